import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { dropDatabase, ensureDatabase } from '../../hub';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { ensureInfluxd } from '../../scripts/lib/influxd';

/** Shared services of this machine (PREAMBLE): PostgreSQL cluster and the project's influxd. */
export const PG_BASE = process.env.VIGIL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
export const INFLUX_URL = process.env.VIGIL_BENCH_INFLUX_URL ?? 'http://127.0.0.1:18086';

export const scratchName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export async function influxQuery(
  q: string,
  database?: string,
  method: 'GET' | 'POST' = 'POST',
): Promise<{ results: { error?: string; series?: { name: string; columns: string[]; values: unknown[][] }[] }[] }> {
  const u = new URL('/query', INFLUX_URL);
  const body = new URLSearchParams({ q, ...(database ? { db: database } : {}), epoch: 'ms' });
  const res =
    method === 'POST' ? await fetch(u, { method: 'POST', body }) : await fetch(`${u.href}?${body.toString()}`);
  const json = (await res.json()) as {
    results: { error?: string; series?: { name: string; columns: string[]; values: unknown[][] }[] }[];
    error?: string;
  };
  if (!res.ok || json.error) throw new Error(`INFLUX_QUERY_FAILED: ${json.error ?? res.status}`);
  for (const r of json.results) if (r.error) throw new Error(`INFLUX_QUERY_FAILED: ${r.error}`);
  return json;
}

/** Cleanups run on SIGINT/SIGTERM too, so an interrupted bench leaves no hub process or scratch database. */
const cleanups = new Set<() => Promise<void>>();
let signalled = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    if (signalled) return;
    signalled = true;
    void Promise.allSettled([...cleanups].reverse().map((f) => f())).then(() => process.exit(130));
  });
}
export function onInterrupt(f: () => Promise<void>): () => void {
  cleanups.add(f);
  return () => cleanups.delete(f);
}

/** A scratch PostgreSQL database and InfluxDB database, dropped by cleanup(). Only ones we created. */
export interface Scratch {
  pgUrl: string;
  pool: pg.Pool;
  influxDb: string;
  cleanup(): Promise<void>;
}

export async function scratchStores(prefix: string): Promise<Scratch> {
  // an influxd this bench started is stopped by cleanup(), else its process handle keeps the
  // bench alive after its JSON line; one that was already running is left alone
  const influxd = await ensureInfluxd();
  const name = scratchName(prefix);
  const pgUrl = `${PG_BASE}/${name}`;
  await ensureDatabase(pgUrl);
  const pool = new pg.Pool({ connectionString: pgUrl, max: 8 });
  await influxQuery(`CREATE DATABASE "${name}"`);
  // VIGIL_BENCH_KEEP=1 keeps both databases after the run, to look into what the bench left
  const keep = process.env.VIGIL_BENCH_KEEP === '1';
  const cleanup = async () => {
    await pool.end().catch(() => {});
    if (keep) process.stderr.write(`kept: PostgreSQL ${pgUrl}, InfluxDB ${name}\n`);
    else {
      await dropDatabase(pgUrl).catch(() => {});
      await influxQuery(`DROP DATABASE "${name}"`).catch(() => {});
    }
    await influxd.stop();
  };
  const forget = onInterrupt(cleanup);
  return {
    pgUrl,
    pool,
    influxDb: name,
    cleanup: async () => {
      forget();
      await cleanup();
    },
  };
}

/** The hub as its own process (hub/cli.ts), embedded broker on a free port, so its CPU and fds are its own. */
export async function startHubProcess(
  s: Scratch,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<ServiceProcess & { mqttUrl: string; httpUrl: string }> {
  const hub = await startService('hub', 'hub/cli.ts', {
    readyEvent: 'hub.ready',
    timeoutMs: 120_000,
    env: {
      VIGIL_PG_URL: s.pgUrl,
      VIGIL_INFLUX_URL: INFLUX_URL,
      VIGIL_INFLUX_DATABASE: s.influxDb,
      VIGIL_MQTT_HOST: '127.0.0.1',
      VIGIL_MQTT_PORT: '0',
      VIGIL_HTTP_HOST: '127.0.0.1',
      VIGIL_HTTP_PORT: '0',
      VIGIL_LOG_LEVEL: 'error',
      ...extraEnv,
    },
    // VIGIL_BENCH_HUB_NODE_ARGS="--cpu-prof --cpu-prof-dir=.data/prof": profile the hub under a bench
    ...(process.env.VIGIL_BENCH_HUB_NODE_ARGS
      ? {
          nodeArgs: ['--import', 'tsx', ...process.env.VIGIL_BENCH_HUB_NODE_ARGS.split(/\s+/).filter(Boolean)],
          // a profile is written at exit: after a storm the hub's stop (pending late-day rollups)
          // can outlast the default 10 s before SIGKILL, which loses it
          stopGraceMs: 300_000,
        }
      : {}),
    ...(process.env.VIGIL_BENCH_ECHO_HUB
      ? { echo: (line: string) => void process.stderr.write(`[hub] ${line}\n`) }
      : {}),
  });
  let stopping = false;
  // a hub that dies mid-bench makes every figure meaningless: say so and stop
  hub.child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `[bench] HUB_DIED: the hub process exited (${code ?? signal}); last lines:\n${hub.lines.slice(-20).join('\n')}\n`,
    );
    void Promise.allSettled([...cleanups].reverse().map((f) => f())).then(() => process.exit(1));
  });
  const forget = onInterrupt(async () => {
    stopping = true;
    await hub.stop('SIGKILL');
  });
  const stop = hub.stop.bind(hub);
  return Object.assign(hub, {
    mqttUrl: String(hub.ready.mqttUrl),
    httpUrl: String(hub.ready.httpUrl),
    stop: async (signal?: NodeJS.Signals) => {
      stopping = true;
      forget();
      return stop(signal);
    },
  });
}

/** Peak resident memory of a process in MiB (Linux /proc VmHWM), or null. */
export async function peakRssMiB(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, seconds) a process has used so far (Linux /proc stat), or null. */
export async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (!pid) return null;
  try {
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name: utime and stime are the 12th and 13th (proc(5)), in clock ticks
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Math.round(((Number(f[11]) + Number(f[12])) / 100) * 10) / 10;
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by every live process of each command name (Linux /proc): taken before
 * and after a bench phase, the difference says where the machine's CPU went (the stores' server
 * processes included). Processes that exited in between are not counted.
 */
export async function cpuByCommand(names: readonly string[]): Promise<Record<string, number>> {
  const { readFile, readdir } = await import('node:fs/promises');
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (!(comm in out)) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[comm] = (out[comm] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
  }
  return out;
}

export function machine(): { cpus: number; cpuModel: string; memGiB: number; node: string } {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Prints the bench's one JSON line of figures (stdout); progress goes to stderr. */
/** load averages (1, 5, 15 min) when the bench process started: other work on the machine skews the figures */
const LOAD_AT_START = os.loadavg().map((x) => Math.round(x * 100) / 100);

/**
 * The bench's one JSON line on stdout, with the machine and its load averages (1, 5, 15 min) at
 * the start and the end of the run: figures taken on a loaded machine say so in the line itself.
 */
export function report(bench: string, figures: Record<string, unknown>): void {
  const loadAverage = { start: LOAD_AT_START, end: os.loadavg().map((x) => Math.round(x * 100) / 100) };
  process.stdout.write(
    `${JSON.stringify({ bench, at: new Date().toISOString(), ...figures, loadAverage, machine: machine() })}\n`,
  );
}

export const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);
