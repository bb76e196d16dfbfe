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

export async function ensureInfluxd(
  opts: { port?: number; dataDir?: string; /** HTTP authentication on (docs/security.md) */ auth?: boolean } = {},
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
  const child = spawn('influxd', ['-config', config], { stdio: ['ignore', log, log], detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 300; i++) {
    if (await influxPing(url)) {
      return {
        url,
        port,
        process: child,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGTERM');
          await Promise.race([exited, sleep(10_000)]);
        },
      };
    }
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`influxd did not answer on ${url}; see ${join(dataDir, 'influxd.log')}`);
}
