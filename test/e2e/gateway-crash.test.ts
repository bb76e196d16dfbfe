import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { GATEWAY_NODE_FLAGS } from '../../deploy/gateway-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadingBuffer } from '../../gateway/buffer/reading-buffer';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { GlucoseMeter, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * Issue 4 "Done when", crash test: a glucose meter holds 10 000 stored records; the real gateway
 * process pulls them with RACP (node-ble on the virtual BlueZ) and forwards them to the hub, and
 * is killed with SIGKILL at random moments at least 20 times, restarted on the same data folder
 * each time. Afterwards InfluxDB holds every reading exactly once (values checked by sequence).
 * The gateway runs as the box runs it: the esbuild bundle (deploy/build-gateway.sh) on plain
 * node, which also starts in a fraction of the tsx loader's time (20 restarts fit the budget).
 */
const GW = 'gw-e2e-crash-01';
const PATIENT = 'P-E2E-CRASH';
const METER = 'A4:C1:38:C0:00:01';
const N = 10_000;
const KILLS = 20;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
/** record i (1-based) in mmol/L: distinct, exactly representable at 0.01 */
const valueOf = (i: number) => 3 + (i % 1500) / 100; // SFLOAT mol/L keeps 0.01 mmol/L below 20.47

describe('crash test: SIGKILL the gateway 20 times while 10 000 readings flow', () => {
  let pg: TestPostgres;
  let influxDb: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub;
  let vb: VirtualBluezHandle;
  let meter: GlucoseMeter;
  let gateway: { child: ChildProcess; stop(signal?: NodeJS.Signals): Promise<void> } | undefined;
  let dir: string;
  let password: string;
  let dir0: string;

  beforeAll(async () => {
    [pg, influxDb] = await Promise.all([createTestPostgres('vigil_crash'), createTestInflux('vigil_crash')]);
    // the bundle lives inside the repository so its npm imports resolve to node_modules
    mkdirSync(join(process.cwd(), '.data'), { recursive: true }); // absent on a fresh clone
    dir0 = mkdtempSync(join(process.cwd(), '.data', 'tmp-crash-'));
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influxDb.url, database: influxDb.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
        },
      }),
    );
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Crash patient' });
    password = (await createGateway(pg.pool, { id: GW, patientId: PATIENT })).password;
    execFileSync('sh', ['deploy/build-gateway.sh', join(dir0, 'dist')], { stdio: 'pipe' });
    meter = new GlucoseMeter({ address: METER, name: 'Glucose', recordIntervalMs: 0 });
    for (let i = 1; i <= N; i++) meter.addReading({ mmolPerL: valueOf(i), time: new Date(T0 + i * 60_000) });
    vb = await startVirtualBluez({ peripherals: [meter], adapter: { advertiseIntervalMs: 100 } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-crash-'));
    writeFileSync(
      join(dir, 'gateway.yaml'),
      JSON.stringify({
        gatewayId: GW,
        dataDir: join(dir, 'data'),
        timeZone: 'UTC',
        logLevel: 'error',
        mqtt: { url: hub.mqttUrl, password, batchSize: 200, receiptTimeoutMs: 3_000, maxInFlightBatches: 8 },
        ble: {
          connectTimeoutMs: 5_000,
          idleDisconnectMs: 500,
          backoffInitialMs: 100,
          backoffMaxMs: 500,
          cooldownMs: 300,
        },
        devices: { allow: [METER] },
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await vb.stop();
    await hub.stop();
    await Promise.all([pg.drop(), influxDb.drop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (dir0) rmSync(dir0, { recursive: true, force: true });
  });

  const start = () =>
    new Promise<NonNullable<typeof gateway>>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...GATEWAY_NODE_FLAGS, join(dir0, 'dist', 'gateway.mjs'), '--config', join(dir, 'gateway.yaml')],
        { env: { ...process.env, ...vb.env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const lines: string[] = [];
      createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
      createInterface({ input: child.stdout }).on('line', (l) => {
        if (l.includes('"gateway.ready"'))
          resolve({
            child,
            stop: async (signal = 'SIGTERM') => {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              await exited;
            },
          });
      });
      void exited.then(() => reject(new Error(`gateway exited before ready:\n${lines.join('\n')}`)));
    });
  const stored = async () => {
    const { rows } = await pg.pool.query<{ n: number }>(
      `SELECT count(*)::int n FROM reading_ledger WHERE gateway_id = $1 AND metric = 'glucose' AND stored_at IS NOT NULL`,
      [GW],
    );
    return rows[0]!.n;
  };

  it('InfluxDB holds every reading exactly once', async () => {
    const started = Date.now();
    let kills = 0;
    const progress: number[] = [];
    while (kills < KILLS) {
      gateway = await start();
      // a random moment: while connecting, pulling records, committing, publishing or receipting
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 1_200));
      await gateway.stop('SIGKILL');
      kills++;
      progress.push(meter.sentRecords);
    }
    gateway = await start();
    const end = Date.now() + 60_000;
    while ((await stored()) < N && Date.now() < end) await new Promise((r) => setTimeout(r, 500));
    // settle: receipts in flight reach the buffer
    const buffer = () => {
      const b = new ReadingBuffer(join(dir, 'data', 'buffer.sqlite'));
      const s = b.stats();
      const c = b.cursor(METER);
      b.close();
      return { ...s, cursor: c };
    };
    const deadline = Date.now() + 15_000;
    while (buffer().depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    console.log(
      JSON.stringify({
        kills,
        sentByMeterAtKills: progress,
        seconds: (Date.now() - started) / 1000,
        notificationsSent: meter.sentRecords,
      }),
    );

    expect(kills).toBeGreaterThanOrEqual(20);
    // the kills landed during the transfer, not after it
    expect(progress.filter((p) => p > 0 && p < N).length).toBeGreaterThan(3);
    expect(await stored()).toBe(N);
    const u = new URL(influxDb.url);
    const influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
    const points = await influx.query<{ time: Date; value: number }>(
      `SELECT "value" FROM "glucose" WHERE "patient" = '${PATIENT}' ORDER BY time`,
    );
    expect(points).toHaveLength(N);
    // every record i once, at its own minute, with its own value
    const wrong = points.filter(
      (p, k) => new Date(p.time).getTime() !== T0 + (k + 1) * 60_000 || Math.abs(p.value - valueOf(k + 1)) > 1e-6,
    );
    expect(wrong).toEqual([]);
    const { rows } = await pg.pool.query<{ n: number; distinct: number }>(
      `SELECT count(*)::int n, count(DISTINCT reading_id)::int AS distinct FROM reading_ledger WHERE gateway_id = $1 AND metric = 'glucose'`,
      [GW],
    );
    expect(rows[0]).toEqual({ n: N, distinct: N });
    expect(buffer()).toMatchObject({ depth: 0, cursor: N });
  }, 180_000);
});
