import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, readingId, receiptSchema, topicFor, type MetricName, type Reading } from '../../contract';
import { bindDevice, createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { HOUR, ManualClock, MINUTE } from '../../hub/rules/clock';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * Issue 6 "Done when": two hub instances evaluating the same patients open each expected episode
 * once. Two real hubs share a subscription on a private Mosquitto (MQTT 5 $share; private so no
 * other suite's hub answers our gateways), the readings of each patient are split between them,
 * re-sent, and both run the scheduler at the same moment.
 */
const PATIENTS = 12;
/** one device per household: reading ids are per device, so households never share one */
const device = (gw: string) =>
  `C0:00:00:00:01:${Number(gw.split('-').pop()).toString(16).padStart(2, '0').toUpperCase()}`;
let port = 0;
let broker: ChildProcess;
let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
const hubs: RunningHub[] = [];
const clock = new ManualClock(Math.floor(Date.now() / HOUR) * HOUR);
const t0 = clock.now().getTime();

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

function reading(gw: string, metric: MetricName, value: number, at: number): Reading {
  const deviceTime = new Date(at).toISOString().slice(0, 19);
  const dev = { address: device(gw), driver: 'sim-device' };
  return {
    id: readingId({ device: dev, metric, deviceTime }),
    gatewayId: gw,
    device: dev,
    metric,
    value,
    unit: METRICS[metric].unit,
    measuredAt: new Date(at).toISOString(),
    deviceTime,
    flags: [],
  };
}

beforeAll(async () => {
  port = await freePort();
  // mosquitto 2 without a config file: local-only listener, anonymous allowed
  broker = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 }).then(
      (c) => c.endAsync().then(() => true),
      () => false,
    );
    if (ok) break;
    if (i > 50) throw new Error('private mosquitto did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  pg = await createTestPostgres('vigil_twohubs');
  influx = await createTestInflux('vigil_twohubs');
  const config = (id: string) =>
    loadHubConfig({
      env: {},
      overrides: {
        instanceId: id,
        postgres: { url: pg.url },
        influx: { url: influx.url, database: influx.database },
        mqtt: { mode: 'external', url: `mqtt://127.0.0.1:${port}`, sharedGroup: 'vigil-rules' },
        http: { port: 0 },
        logLevel: 'silent',
      },
    });
  hubs.push(
    ...(await Promise.all(
      ['rules-a', 'rules-b'].map((id) => startHub(config(id), pino({ level: 'silent' }), { clock, schedulers: false })),
    )),
  );
  for (let i = 0; i < PATIENTS; i++) {
    await createPatient(pg.pool, { id: `TH-${i}`, programId: 'oral_chemotherapy', displayName: `Two hubs ${i}` });
    await createGateway(pg.pool, { id: `gw-th-${i}`, patientId: `TH-${i}` });
    await bindDevice(pg.pool, {
      gatewayId: `gw-th-${i}`,
      address: device(`gw-th-${i}`),
      patientId: `TH-${i}`,
      driver: 'sim-device',
    });
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.stop()));
  broker.kill('SIGTERM');
  await influx.drop();
  await pg.drop();
});

describe('two hub instances on one shared subscription', () => {
  it('open each expected episode once, notify once, and run the scheduler once', async () => {
    const gateways: MqttClient[] = [];
    const receipts = new Map<string, number>();
    await Promise.all(
      Array.from({ length: PATIENTS }, async (_, i) => {
        const gw = `gw-th-${i}`;
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: gw,
          protocolVersion: 5,
          reconnectPeriod: 0,
        });
        c.on('message', (_t, p) => {
          const r = receiptSchema.parse(JSON.parse(p.toString()));
          receipts.set(r.batchId, (receipts.get(r.batchId) ?? 0) + 1);
        });
        await c.subscribeAsync(topicFor(gw, 'receipts'), { qos: 1 });
        gateways.push(c);
        // crisis reading, its re-measure 2 min later, and a fever: separate batches, each sent twice
        const batches = [
          [
            reading(gw, 'blood_pressure_systolic', 192, t0),
            reading(gw, 'blood_pressure_diastolic', 121, t0),
            reading(gw, 'heart_rate', 136, t0),
          ],
          [
            reading(gw, 'blood_pressure_systolic', 188, t0 + 2 * MINUTE),
            reading(gw, 'blood_pressure_diastolic', 124, t0 + 2 * MINUTE),
          ],
          [reading(gw, 'body_temperature', 38.9, t0 + 3 * MINUTE)],
        ];
        clock.set(t0 + 5 * MINUTE);
        await Promise.all(
          [...batches, ...batches].map((readings, k) =>
            c.publishAsync(
              topicFor(gw, 'readings'),
              JSON.stringify({
                v: 1,
                gatewayId: gw,
                batchId: `${gw}-${k}`,
                sentAt: new Date(t0).toISOString(),
                readings,
              }),
              { qos: 1 },
            ),
          ),
        );
      }),
    );
    for (let i = 0; receipts.size < PATIENTS * 6; i++) {
      if (i > 300) throw new Error(`receipts: ${receipts.size}/${PATIENTS * 6}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(gateways.map((g) => g.endAsync()));

    // 49 h later, no data: both instances tick at the same moment, twice
    clock.set(t0 + 49 * HOUR);
    const ticks = await Promise.all([...hubs, ...hubs].map((h) => h.rules.tick()));
    expect(ticks.filter((t) => t.scheduledRan)).toHaveLength(1);
    // 16 min later: due again (15-min period), notified once more whoever claims them
    clock.set(t0 + 49 * HOUR + 16 * MINUTE);
    await Promise.all([...hubs, ...hubs].map((h) => h.rules.tick()));

    const eps = await pg.pool.query<{ patient_id: string; rule_id: string; n: number }>(
      `SELECT patient_id, rule_id, count(*)::int n FROM alert_episodes GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    for (let i = 0; i < PATIENTS; i++) {
      expect(eps.rows.filter((r) => r.patient_id === `TH-${i}`).map((r) => [r.rule_id, r.n])).toEqual([
        ['bp-hypertensive-crisis', 1],
        ['chemo-fever', 1],
        ['missing-data', 1],
        ['sepsis-red-flags', 1],
      ]);
    }
    const notes = await pg.pool.query<{ kind: string; n: number }>(
      `SELECT kind, count(*)::int n FROM notifications GROUP BY 1 ORDER BY 1`,
    );
    // opened: 4 per patient; re-notified: the 3 red ones per patient, once per due tick (2 ticks x 4 concurrent callers)
    expect(notes.rows).toEqual([
      { kind: 'opened', n: 4 * PATIENTS },
      { kind: 'renotified', n: 3 * PATIENTS * 2 },
    ]);
    const perHub = await Promise.all(hubs.map(async (h) => (await h.metrics.batches.get()).values[0]?.value ?? 0));
    expect(perHub.every((n) => n > 0)).toBe(true);
  }, 60_000);
});
