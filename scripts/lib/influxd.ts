import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A project-owned InfluxDB 1.x: `influxd` on a loopback port with its data under .data/,
 * never the system service. Shared by the demo and the tests (each test uses its own database).
 */
export interface InfluxdHandle {
  url: string;
  port: number;
  /** set when this call started influxd; undefined when one was already answering */
  process?: ChildProcess;
  stop(): Promise<void>;
}

export const DEFAULT_INFLUX_PORT = Number(process.env.VIGIL_INFLUX_PORT ?? 18086);

export async function influxPing(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.status === 204;
  } catch {
    return false;
  }
}

/**
 * A watchdog bound to this process: when this process ends in any way (SIGKILL included) the
 * pipe to the watchdog's stdin closes and it SIGTERMs `pid`. influxd has no parent-death option.
 * Kill the watchdog first (SIGKILL) when stopping `pid` on purpose.
 */
function killWhenWeDie(pid: number): ChildProcess {
  const watchdog = spawn('/bin/sh', ['-c', 'read _ignored; kill -TERM "$0" 2>/dev/null', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watchdog;
}

export async function ensureInfluxd(
  opts: {
    port?: number;
    dataDir?: string;
    /** HTTP authentication on (docs/security.md) */
    auth?: boolean;
    /** called as soon as influxd is spawned (before it answers): whoever stops early can stop it too */
    onSpawn?: (stop: () => Promise<void>) => void;
  } = {},
): Promise<InfluxdHandle> {
  const port = opts.port ?? DEFAULT_INFLUX_PORT;
  const url = `http://127.0.0.1:${port}`;
  if (await influxPing(url)) return { url, port, stop: async () => {} };

  const dataDir = resolve(opts.dataDir ?? join('.data', `influxdb-${port}`));
  mkdirSync(dataDir, { recursive: true });
  const config = join(dataDir, 'influxdb.conf');
  writeFileSync(
    config,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${port + 2}"`,
      '[meta]',
      `  dir = "${join(dataDir, 'meta')}"`,
      '[data]',
      `  dir = "${join(dataDir, 'data')}"`,
      `  wal-dir = "${join(dataDir, 'wal')}"`,
      '  query-log-enabled = false',
      '  index-version = "tsi1"',
      '[http]',
      `  bind-address = "127.0.0.1:${port}"`,
      '  log-enabled = false',
      `  auth-enabled = ${opts.auth ? 'true' : 'false'}`,
      '  max-body-size = 0',
      '[continuous_queries]',
      '  enabled = true',
      '  run-interval = "10s"',
      '[monitor]',
      '  store-enabled = false',
      '',
    ].join('\n'),
  );
  const log = openSync(join(dataDir, 'influxd.log'), 'a');
  // its own process group: a Ctrl-C in the terminal reaches the owner, which stops influxd last
  const child = spawn('influxd', ['-config', config], { stdio: ['ignore', log, log], detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const watchdog = child.pid === undefined ? undefined : killWhenWeDie(child.pid);
  const stop = async () => {
    watchdog?.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
  };
  opts.onSpawn?.(stop);
  for (let i = 0; i < 300; i++) {
    if (await influxPing(url)) return { url, port, process: child, stop };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  watchdog?.kill('SIGKILL');
  child.kill('SIGKILL');
  throw new Error(`influxd did not answer on ${url}; see ${join(dataDir, 'influxd.log')}`);
}
