import { execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  createGateway,
  createPatient,
  createPool,
  dropDatabase,
  ensureDatabase,
  loadHubConfig,
  migrate,
  startHub,
} from '../hub';
import { ensureInfluxd } from '../scripts/lib/influxd';
import { startService } from '../scripts/lib/processes';
import {
  ActivityTracker,
  BloodPressureCuff,
  GlucoseMeter,
  Oximeter,
  Thermometer,
  WeightScale,
  startVirtualBluez,
} from '../simulators/virtual-bluez';
import { GATEWAY_NODE_FLAGS } from '../deploy/gateway-runtime';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, report } from './lib/env';
import { INFLUX_URL, PG_BASE, influxQuery, scratchName } from './lib/env';

/**
 * Resident memory of the gateway process (gateway/cli.ts, real node-ble backend on a virtual
 * BlueZ) with six connectable devices that KEEP measuring (a new reading on one of them every
 * --every-ms), forwarding to a real in-process hub: the RSS is sampled each second for
 * --minutes, so growth (a leak) shows as the gap between first and last quartile. Target < 80 MB.
 * --runtime bundle (default) runs the esbuild bundle a box runs (deploy/build-gateway.sh); tsx
 * runs the TypeScript through the tsx loader, which alone adds about 40 MiB.
 *   npx tsx bench/gateway-memory.ts [--minutes 1] [--every-ms 500] [--runtime bundle|tsx]
 */
const args = benchArgs(
  z.object({
    minutes: int(1, 60, 1),
    'every-ms': int(50, 60_000, 500),
    runtime: z.enum(['bundle', 'tsx']).default('bundle'),
  }),
);
const GW = 'gw-bench-mem-01';

/** VmRSS splits into RssAnon (heap, stacks, malloc) and RssFile (touched pages of the node binary and libraries) */
async function rssMiB(pid: number): Promise<{ rss: number; hwm: number; anon: number; file: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const mib = (k: string) => Math.round(Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) / 102.4) / 10;
  return { rss: mib('VmRSS'), hwm: mib('VmHWM'), anon: mib('RssAnon'), file: mib('RssFile') };
}

/** the V8 flags of deploy/vigil-gateway.service; VIGIL_GATEWAY_NODE_FLAGS tries others side by side */
const BOX_NODE_FLAGS = process.env.VIGIL_GATEWAY_NODE_FLAGS?.split(' ').filter(Boolean) ?? [...GATEWAY_NODE_FLAGS];

/** the gateway as a box runs it: one esbuild bundle (deploy/build-gateway.sh) on plain node */
async function startBundle(config: string): Promise<{ child: ReturnType<typeof spawn>; stop(): Promise<void> }> {
  execFileSync('sh', ['deploy/build-gateway.sh', '.data/tmp/gateway-dist'], { stdio: 'ignore' });
  const child = spawn(process.execPath, [...BOX_NODE_FLAGS, '.data/tmp/gateway-dist/gateway.mjs', '--config', config], {
    env: { ...process.env, ...vb.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => l.includes('"gateway.ready"') && resolve());
    child.once('exit', (code) => reject(new Error(`gateway bundle exited with ${code}`)));
  });
  return { child, stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) };
}

const pgUrl = `${PG_BASE}/${scratchName('vigil_bench_gwmem')}`;
const influxDb = scratchName('vigil_bench_gwmem');
await ensureDatabase(pgUrl);
const pool = createPool(pgUrl, 2);
await migrate(pool);
// our own influxd when none answers (stopped at the end; one already running is left alone)
const influxd = await ensureInfluxd();
await influxQuery(`CREATE DATABASE "${influxDb}"`);
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-gwmem-'));
const hub = await startHub(
  loadHubConfig({
    env: {},
    overrides: {
      postgres: { url: pgUrl },
      influx: { url: INFLUX_URL, database: influxDb },
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      logLevel: 'silent',
    },
  }),
);
await createPatient(pool, { id: 'P-BENCH-MEM', programId: 'heart_failure', displayName: 'bench' });
const password = (await createGateway(pool, { id: GW, patientId: 'P-BENCH-MEM' })).password;

const cuff = new BloodPressureCuff({ address: 'A4:C1:38:B0:00:01', name: 'BP Cuff' });
const scale = new WeightScale({ address: 'A4:C1:38:B0:00:02', name: 'Scale' });
const thermo = new Thermometer({ address: 'A4:C1:38:B0:00:03', name: 'Thermometer' });
const oxi = new Oximeter({ address: 'A4:C1:38:B0:00:04', name: 'Oximeter' });
const glucose = new GlucoseMeter({ address: 'A4:C1:38:B0:00:05', name: 'Glucose' });
const tracker = new ActivityTracker({ address: 'A4:C1:38:B0:00:06', name: 'Tracker' });
const devices = [cuff, scale, thermo, oxi, glucose, tracker];
let n = 0;
const measure = () => {
  n++;
  const t = new Date(Date.UTC(2026, 0, 1) + n * 60_000);
  [
    () => cuff.addReading({ systolic: 110 + (n % 40), diastolic: 70 + (n % 20), pulse: 60 + (n % 30), time: t }),
    () => scale.addReading({ weight: 70 + (n % 50) / 10, userId: 1, time: t }),
    () => thermo.addReading({ celsius: 36 + (n % 20) / 10, time: t }),
    () => oxi.addReading({ spo2: 90 + (n % 9), pulseRate: 60 + (n % 30), time: t }),
    () => glucose.addReading({ mmolPerL: 4 + (n % 50) / 10, time: t }),
    () => tracker.addHeartRate(60 + (n % 40)),
  ][n % 6]!();
};
const vb = await startVirtualBluez({ peripherals: devices, adapter: { advertiseIntervalMs: 300 } });
writeFileSync(
  join(dir, 'gateway.yaml'),
  JSON.stringify({
    gatewayId: GW,
    dataDir: join(dir, 'data'),
    timeZone: 'UTC',
    logLevel: 'warn',
    mqtt: { url: hub.mqttUrl, password },
    ble: { idleDisconnectMs: 1000, cooldownMs: 2000 },
    devices: { allow: devices.map((d) => d.address) },
  }),
);
try {
  const gw =
    args.runtime === 'tsx'
      ? await startService('gateway', 'gateway/cli.ts', {
          args: ['--config', join(dir, 'gateway.yaml')],
          readyEvent: 'gateway.ready',
          env: vb.env,
        })
      : await startBundle(join(dir, 'gateway.yaml'));
  log(`gateway-memory: six devices measuring every ${args['every-ms']} ms for ${args.minutes} min`);
  const timer = setInterval(measure, args['every-ms']);
  const samples: number[] = [];
  let last = { rss: 0, hwm: 0, anon: 0, file: 0 };
  const end = Date.now() + args.minutes * 60_000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await rssMiB(gw.child.pid!);
    samples.push(last.rss);
  }
  clearInterval(timer);
  const { hwm } = await rssMiB(gw.child.pid!);
  await new Promise((r) => setTimeout(r, 5000));
  await gw.stop();
  const stored = await pool.query<{ n: number; devices: number }>(
    'SELECT count(*)::int n, count(DISTINCT device_address)::int devices FROM reading_ledger WHERE gateway_id = $1',
    [GW],
  );
  const q = (p: number, xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
  const firstQuarter = samples.slice(0, Math.max(1, Math.floor(samples.length / 4)));
  const lastQuarter = samples.slice(-Math.max(1, Math.floor(samples.length / 4)));
  report('gateway-memory', {
    rssMiBMedian: q(0.5, samples),
    rssMiBMax: Math.max(...samples),
    peakRssMiB: hwm,
    lastAnonMiB: last.anon,
    lastFileMiB: last.file,
    rssMiBGrowthFirstToLastQuarter: Math.round(((q(0.5, lastQuarter) ?? 0) - (q(0.5, firstQuarter) ?? 0)) * 10) / 10,
    targetMiB: 80,
    runtime: args.runtime,
    nodeFlags: args.runtime === 'bundle' ? BOX_NODE_FLAGS.join(' ') : '',
    devices: devices.length,
    devicesStoredAtHub: stored.rows[0]!.devices,
    measurementsMade: n,
    readingsStoredAtHub: stored.rows[0]!.n,
    minutes: args.minutes,
    loadAverage1m: loadAverage(),
  });
} finally {
  await vb.stop();
  await hub.stop();
  await pool.end();
  await dropDatabase(pgUrl);
  await influxQuery(`DROP DATABASE "${influxDb}"`);
  rmSync(dir, { recursive: true, force: true });
  await influxd.stop();
}
