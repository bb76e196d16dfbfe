import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, readingId, receiptSchema, topicFor, type MetricName, type Reading } from '../../contract';
import { bindDevice, createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { sameEventRuleIds as sameEventRules } from '../../hub/rules/catalog';
import { DAY, HOUR, ManualClock, utcDay } from '../../hub/rules/clock';
import { generateScenario, SCENARIO_IDS, type SimulatedScenario } from '../../simulators/patients';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * The simulator's scenarios (simulators/patients: each default rule with a story that must fire and
 * ones that must stay silent) replayed hour by hour through MQTT into a real hub (embedded broker,
 * InfluxDB, PostgreSQL) on a manual clock; scheduled rules run every 2 simulated hours.
 */
const OFFSET_MIN = 60;
let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
let hub: RunningHub;
const clock = new ManualClock(Date.parse('2026-01-04T23:00:00Z'));
const sims: SimulatedScenario[] = SCENARIO_IDS.map((id) =>
  generateScenario(id, { seed: 1, gatewayId: `sim-${id}`, startDate: '2026-01-05', utcOffsetMinutes: OFFSET_MIN }),
);
/**
 * Rules 1, 2 and 12 have no story in the simulator: a small household of our own, same format,
 * each rule once firing and once staying silent (day 3, local times).
 */
function extraScenario(): SimulatedScenario {
  const gatewayId = 'sim-extra';
  const devices = [
    { key: 'oximeter', address: 'C1:00:00:00:00:01', driver: 'sig-pulse-oximeter' },
    { key: 'meter', address: 'C1:00:00:00:00:02', driver: 'sig-glucose' },
  ];
  const patients = [
    {
      key: 'fires',
      program: 'cardiovascular_prevention' as const,
      devices: [
        { address: devices[0]!.address, driver: devices[0]!.driver, userIndex: 1 },
        { address: devices[1]!.address, driver: devices[1]!.driver, userIndex: 1 },
      ],
    },
    {
      key: 'silent',
      program: 'cardiovascular_prevention' as const,
      devices: [
        { address: devices[0]!.address, driver: devices[0]!.driver, userIndex: 2 },
        { address: devices[1]!.address, driver: devices[1]!.driver, userIndex: 2 },
      ],
    },
  ];
  const readings: SimulatedScenario['readings'] = [];
  const add = (
    patient: 'fires' | 'silent',
    dev: 0 | 1,
    localIso: string,
    values: Partial<Record<MetricName, number>>,
  ) => {
    const d = devices[dev]!;
    const userIndex = patient === 'fires' ? 1 : 2;
    for (const [metric, value] of Object.entries(values) as [MetricName, number][]) {
      readings.push({
        patient,
        reading: {
          id: readingId({ device: { address: d.address, driver: d.driver }, metric, userIndex, deviceTime: localIso }),
          gatewayId,
          device: { address: d.address, driver: d.driver },
          metric,
          value,
          unit: METRICS[metric].unit,
          measuredAt: new Date(Date.parse(`${localIso}Z`) - OFFSET_MIN * 60_000).toISOString(),
          deviceTime: localIso,
          userIndex,
          flags: [],
        },
      });
    }
  };
  add('fires', 0, '2026-01-07T08:00:00', { spo2: 90, heart_rate: 84 });
  add('fires', 0, '2026-01-07T08:20:00', { spo2: 89, heart_rate: 86 });
  add('fires', 0, '2026-01-07T12:00:00', { spo2: 95, heart_rate: 135 });
  add('fires', 1, '2026-01-07T13:00:00', { glucose: 2.8 });
  add('silent', 0, '2026-01-07T08:00:00', { spo2: 90, heart_rate: 84 });
  add('silent', 0, '2026-01-07T08:05:00', { spo2: 96, heart_rate: 128 });
  add('silent', 1, '2026-01-07T13:00:00', { glucose: 4.2 });
  add('silent', 1, '2026-01-07T19:00:00', { glucose: 12.5 });
  readings.sort((x, y) => x.reading.measuredAt.localeCompare(y.reading.measuredAt));
  const fire = (rule: '1' | '2', ruleId: string, notBefore: string, by: string) => ({
    patient: 'fires',
    rule,
    ruleId,
    expect: 'fire' as const,
    notBefore,
    by,
    why: 'extra',
  });
  return {
    scenario: 'extra-red-flags' as SimulatedScenario['scenario'],
    title: 'rules 1, 2, 12',
    seed: 1,
    gatewayId,
    startDate: '2026-01-05',
    utcOffsetMinutes: OFFSET_MIN,
    days: 3,
    devices,
    patients,
    readings,
    expectedAlerts: [
      fire('1', 'spo2-low', '2026-01-07T08:20:00', '2026-01-07T08:25:00'),
      fire('2', 'sepsis-red-flags', '2026-01-07T12:00:00', '2026-01-07T12:05:00'),
      {
        ...fire('2', 'glucose-out-of-range', '2026-01-07T13:00:00', '2026-01-07T13:05:00'),
        rule: '12' as never,
        severity: 'red',
      },
      ...(['spo2-low', 'sepsis-red-flags', 'glucose-out-of-range'] as const).map((ruleId) => ({
        patient: 'silent',
        rule: ({ 'spo2-low': '1', 'sepsis-red-flags': '2', 'glucose-out-of-range': '12' } as const)[ruleId] as '1',
        ruleId,
        expect: 'silent' as const,
        why: 'extra',
      })),
    ],
  };
}
sims.push(extraScenario());
const patientId = (s: SimulatedScenario, key: string) => `${s.scenario}-${key}`;
const clients = new Map<string, MqttClient>();
const waiting = new Map<string, () => void>();
let scheduledPatients: string[] = [];

beforeAll(async () => {
  pg = await createTestPostgres('vigil_scen');
  influx = await createTestInflux('vigil_scen');
  const config = loadHubConfig({
    env: {},
    overrides: {
      instanceId: 'scenarios',
      postgres: { url: pg.url },
      influx: { url: influx.url, database: influx.database },
      mqtt: { host: '127.0.0.1', port: 0, gatewayRateLimit: { messagesPerSecond: 10_000, burst: 10_000 } },
      http: { port: 0 },
      logLevel: 'silent',
    },
  });
  hub = await startHub(config, pino({ level: 'silent' }), { clock, schedulers: false });
  for (const s of sims) {
    for (const p of s.patients)
      await createPatient(pg.pool, {
        id: patientId(s, p.key),
        programId: p.program,
        displayName: `${s.scenario} ${p.key}`,
      });
    const { password } = await createGateway(pg.pool, { id: s.gatewayId, patientId: patientId(s, s.patients[0]!.key) });
    for (const p of s.patients)
      for (const d of p.devices)
        await bindDevice(pg.pool, {
          gatewayId: s.gatewayId,
          address: d.address,
          driver: d.driver,
          patientId: patientId(s, p.key),
          ...(d.userIndex !== undefined ? { userIndex: d.userIndex } : {}),
        });
    const c = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: s.gatewayId,
      username: s.gatewayId,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await c.subscribeAsync(topicFor(s.gatewayId, 'receipts'), { qos: 1 });
    c.on('message', (_t, payload) => {
      const r = receiptSchema.parse(JSON.parse(payload.toString('utf8')));
      waiting.get(r.batchId)?.();
    });
    clients.set(s.gatewayId, c);
  }
  scheduledPatients = sims
    .filter((s) => s.scenario === 'non-adherent' || s.scenario === 'activity-decline')
    .flatMap((s) => s.patients.map((p) => patientId(s, p.key)));
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) await c.endAsync().catch(() => {});
  await hub.stop();
  await influx.drop();
  await pg.drop();
});

async function publish(gatewayId: string, batchId: string, readings: Reading[]): Promise<void> {
  const got = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no receipt for ${batchId}`)), 15_000);
    waiting.set(batchId, () => {
      clearTimeout(t);
      waiting.delete(batchId);
      resolve();
    });
  });
  await clients.get(gatewayId)!.publishAsync(
    topicFor(gatewayId, 'readings'),
    JSON.stringify({
      v: 1,
      gatewayId,
      batchId,
      sentAt: new Date(clock.now()).toISOString().slice(0, 23) + 'Z',
      readings,
    }),
    { qos: 1 },
  );
  await got;
}

describe('default rules through MQTT: the simulator scenarios', () => {
  it('replays every scenario hour by hour', async () => {
    const start = clock.now().getTime();
    const end = Math.max(...sims.map((s) => Date.parse(`${s.startDate}T00:00:00Z`) + (s.days + 1) * 24 * HOUR));
    const byHour = new Map<number, Map<string, Reading[]>>();
    for (const s of sims)
      for (const { reading } of s.readings) {
        const h = Math.floor(Date.parse(reading.measuredAt) / HOUR) * HOUR;
        const m = byHour.get(h) ?? new Map<string, Reading[]>();
        m.set(s.gatewayId, [...(m.get(s.gatewayId) ?? []), reading]);
        byHour.set(h, m);
      }
    let batches = 0;
    for (let h = start; h < end; h += HOUR) {
      clock.set(h + HOUR - 1);
      const hour = byHour.get(h);
      if (hour) await Promise.all([...hour].map(([gw, rs]) => publish(gw, `b${(batches++).toString(36)}`, rs)));
      clock.set(h + HOUR);
      // scheduled rules (missing data, baselines) every 2 simulated hours
      if ((h - start) % (2 * HOUR) === 0) await hub.rules.evaluateScheduled(clock.now(), scheduledPatients);
      if ((h - start) % (24 * HOUR) === 0) await hub.rules.tick();
    }
    const stored = await pg.pool.query<{ n: number }>(
      'SELECT count(*)::int n FROM reading_ledger WHERE stored_at IS NOT NULL',
    );
    expect(stored.rows[0]!.n).toBe(sims.reduce((s, x) => s + x.readings.length, 0));
  }, 120_000);

  for (const s of sims) {
    for (const e of s.expectedAlerts) {
      it(`${s.scenario}: rule ${e.rule} (${e.ruleId}) must ${e.expect}${e.severity ? ` ${e.severity}` : ''} for ${e.patient}`, async () => {
        const p = patientId(s, e.patient);
        const local = (iso: string) => Date.parse(`${iso}Z`) - OFFSET_MIN * 60_000;
        if (e.expect === 'silent') {
          const { rows } = await pg.pool.query('SELECT id FROM alert_episodes WHERE patient_id = $1 AND rule_id = $2', [
            p,
            e.ruleId,
          ]);
          expect(rows).toEqual([]);
          return;
        }
        // first notification of the rule at the expected severity (missing data: opened amber, then escalated red);
        // one gain, one episode: a weight-gain breach joins its family's open episode (docs/clinical/rules.md)
        const family = sameEventRules(e.ruleId);
        const { rows } = await pg.pool.query<{ created_at: Date; severity: string; kind: string }>(
          `SELECT n.created_at, n.severity, n.kind FROM notifications n JOIN alert_episodes a ON a.id = n.episode_id
           WHERE a.patient_id = $1 AND a.rule_id = ANY($2::text[]) ${e.severity ? 'AND n.severity = $3' : ''} ORDER BY n.created_at LIMIT 1`,
          e.severity ? [p, family, e.severity] : [p, family],
        );
        expect(rows[0], `no ${e.ruleId} notification for ${p}`).toBeDefined();
        const at = rows[0]!.created_at.getTime();
        // readings are filed each simulated hour, scheduled rules every 2: tolerance on each side of the window;
        // rule 11 judges complete UTC days only (no partial-day false declines, hub/rules/defaults/
        // activity-decline.ts), so it may fire up to the first evaluation of the next UTC day
        const by =
          e.ruleId === 'chemo-activity-decline' ? utcDay(local(e.by!)) + DAY + 2 * HOUR : local(e.by!) + 2 * HOUR;
        expect(at).toBeGreaterThanOrEqual(local(e.notBefore!) - 2 * HOUR);
        expect(at).toBeLessThanOrEqual(by);
      });
    }
  }
});
