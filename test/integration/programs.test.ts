import type { FastifyInstance } from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, readingId, receiptSchema, topicFor, type MetricName, type Reading } from '../../contract';
import { bindDevice, createGateway, createProfessional, recordConsent } from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { createPool } from '../../hub/storage/postgres/database';
import type { Pool } from 'pg';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { createHubMetrics } from '../../hub/observability/metrics';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

/**
 * Issue 16 item 1, done-when: a program created through the API with no migration (addiction care,
 * with a coaching role of its own), a patient enrolled in it, a reading over MQTT judged by the
 * program's threshold, the roles' views following the definition; a threshold change is a new,
 * audited version that a running hub follows (NOTIFY) without restart; and the back-test.
 *
 * The heart-rate threshold of the test program (sepsis-red-flags.heartRateAbove 110) is a test
 * value that differs from the catalog's 130 so that the two can be told apart; it is not a
 * clinical recommendation.
 */
let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
let hub: RunningHub;
/** a second hub's API on its own pool: its changes reach `hub` only through PostgreSQL NOTIFY */
let other: FastifyInstance;
let otherPool: Pool;
let gw: MqttClient;
const waiting = new Map<string, () => void>();
const token: Record<'admin' | 'nurse' | 'counsellor' | 'cvNurse', string> = {
  admin: '',
  nurse: '',
  counsellor: '',
  cvNurse: '',
};
const GW = 'gw-addiction';
const CUFF = { address: 'D0:00:00:00:00:01', driver: 'sig-blood-pressure' };
const PA = 'AD-P1';
const PB = 'AD-P2';
const PCV = 'CV-P1';

const addictionCare = (heartRateAbove: number) => ({
  id: 'addiction_care',
  name: 'Addiction care: alcohol withdrawal at home',
  description: 'Home follow-up of an outpatient alcohol withdrawal with an addiction counsellor',
  metrics: ['heart_rate', 'blood_pressure_systolic', 'blood_pressure_diastolic'],
  deviceKinds: ['blood_pressure'],
  rules: {
    'sepsis-red-flags': { params: { heartRateAbove } },
    'bp-hypertensive-crisis': {},
    'missing-data': { params: { amberHours: 24, redHours: 48 } },
  },
  questionnaires: [],
  content: { articles: [], tags: ['addiction_care'] },
  roles: [
    {
      id: 'coordinating_nurse',
      kind: 'clinical',
      label: 'Coordinating nurse',
      sees: ['alerts', 'alerts_triage', 'readings', 'trends', 'rules', 'coaching', 'coaching_write', 'messages'],
    },
    {
      id: 'addiction_counsellor',
      kind: 'coaching',
      label: 'Addiction counsellor',
      sees: ['coaching', 'coaching_write', 'messages'],
    },
  ],
  enrollment: { criteria: ['outpatient withdrawal decided by the addiction physician'], minAge: 18 },
  durationDays: 180,
});

/** An API answer as the assertions read it (each test narrows the fields it checks). */
type Answer = Record<string, unknown>;

async function api(
  who: keyof typeof token,
  method: string,
  url: string,
  body?: unknown,
  via: 'hub' | 'other' = 'hub',
): Promise<{ status: number; json: Answer }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token[who]}` };
  if (via === 'other') {
    const res = await other.inject({
      method: method as 'GET',
      url,
      headers,
      ...(body ? { payload: JSON.stringify(body), headers: { ...headers, 'content-type': 'application/json' } } : {}),
    });
    return { status: res.statusCode, json: res.body ? res.json<Answer>() : {} };
  }
  if (body) headers['content-type'] = 'application/json';
  const res = await fetch(`${hub.httpUrl}${url}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Answer) : {} };
}

let batch = 0;
async function publishHeartRate(patientIndex: number, heartRate: number, systolic: number, at: Date): Promise<void> {
  const batchId = `b${(batch++).toString(36)}`;
  const local = at.toISOString().slice(0, 19);
  const readings: Reading[] = (
    [
      ['heart_rate', heartRate],
      ['blood_pressure_systolic', systolic],
      ['blood_pressure_diastolic', 80],
    ] as [MetricName, number][]
  ).map(([metric, value]) => ({
    id: readingId({ device: CUFF, metric, userIndex: patientIndex, deviceTime: local }),
    gatewayId: GW,
    device: CUFF,
    metric,
    value,
    unit: METRICS[metric].unit,
    measuredAt: at.toISOString(),
    deviceTime: local,
    userIndex: patientIndex,
    flags: [],
  }));
  const got = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no receipt for ${batchId}`)), 20_000);
    waiting.set(batchId, () => {
      clearTimeout(t);
      resolve();
    });
  });
  await gw.publishAsync(
    topicFor(GW, 'readings'),
    JSON.stringify({ v: 1, gatewayId: GW, batchId, sentAt: new Date().toISOString(), readings }),
    { qos: 1 },
  );
  await got;
}

const episodes = async (patientId: string) =>
  (
    await pg.pool.query<{ id: string; rule_id: string; severity: string }>(
      'SELECT id, rule_id, severity FROM alert_episodes WHERE patient_id = $1 ORDER BY id',
      [patientId],
    )
  ).rows;

beforeAll(async () => {
  pg = await createTestPostgres('vigil_programs');
  influx = await createTestInflux('vigil_programs');
  const config = loadHubConfig({
    env: {},
    overrides: {
      instanceId: 'programs',
      postgres: { url: pg.url },
      influx: { url: influx.url, database: influx.database },
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { port: 0 },
      logLevel: 'silent',
    },
  });
  hub = await startHub(config, pino({ level: 'silent' }), { schedulers: false });
  otherPool = createPool(pg.url, 4);
  other = await buildApi({
    pool: otherPool,
    timeseries: new TimeSeriesStore(influx.url, influx.database),
    metrics: createHubMetrics(),
    logLevel: 'silent',
  });
  token.admin = (await createProfessional(pg.pool, { id: 'prog-admin', displayName: 'Admin', role: 'admin' })).token;
}, 120_000);

afterAll(async () => {
  // (beforeAll may have stopped half-way: each part is closed only if it was made)
  await (gw as MqttClient | undefined)?.endAsync().catch(() => undefined);
  await (other as FastifyInstance | undefined)?.close();
  await (otherPool as Pool | undefined)?.end();
  await (hub as RunningHub | undefined)?.stop();
  await (influx as typeof influx | undefined)?.drop();
  await (pg as TestPostgres | undefined)?.drop();
});

describe('a new program through the API, no migration', () => {
  it('refuses invalid definitions with stable codes, and non-admins', async () => {
    const bad = await api('admin', 'POST', '/api/programs', { definition: { id: 'x' }, reason: 'test' });
    expect([bad.status, bad.json.code]).toEqual([400, 'PROGRAM_INVALID']);
    const unknownRule = addictionCare(110);
    const r1 = await api('admin', 'POST', '/api/programs', {
      definition: { ...unknownRule, rules: { 'no-such-rule': {} } },
      reason: 'test',
    });
    expect([r1.status, r1.json.code]).toEqual([400, 'RULE_UNKNOWN']);
    const r2 = await api('admin', 'POST', '/api/programs', { definition: addictionCare(400), reason: 'test' });
    expect([r2.status, r2.json.code]).toEqual([400, 'THRESHOLD_OUT_OF_RANGE']);
    expect(r2.json.issues).toEqual([expect.stringContaining('sepsis-red-flags.params.heartRateAbove')]);
    const r3 = await api('admin', 'GET', '/api/programs/addiction_care');
    expect([r3.status, r3.json.code]).toEqual([404, 'PROGRAM_NOT_FOUND']);
    const r4 = await api('admin', 'POST', '/api/programs', {
      definition: { ...addictionCare(110), id: 'heart_failure' },
      reason: 'test',
    });
    expect([r4.status, r4.json.code]).toEqual([409, 'PROGRAM_EXISTS']);
  });

  it('creates addiction care, enrolls patients, and a reading over MQTT raises an alert at the program threshold', async () => {
    const created = await api('admin', 'POST', '/api/programs', {
      definition: addictionCare(110),
      reason: 'new program of the addiction unit',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ programId: 'addiction_care', version: 1 });

    // the team: a coordinating nurse and the program's own coaching role
    expect(
      (
        await api('admin', 'POST', '/api/care-teams', {
          id: 'team-addiction',
          programId: 'addiction_care',
          name: 'Addiction',
        })
      ).status,
    ).toBe(201);
    token.nurse = (
      await createProfessional(pg.pool, { id: 'ad-nurse', displayName: 'N', role: 'coordinating_nurse' })
    ).token;
    token.counsellor = (
      await createProfessional(pg.pool, { id: 'ad-counsellor', displayName: 'C', role: 'addiction_counsellor' })
    ).token;
    // a role no program defines is refused
    await expect(createProfessional(pg.pool, { id: 'x', displayName: 'X', role: 'astrologer' })).rejects.toMatchObject({
      code: 'INVALID_ROLE',
    });
    for (const id of ['ad-nurse', 'ad-counsellor'])
      expect(
        (await api('admin', 'POST', '/api/care-teams/team-addiction/members', { professionalId: id })).status,
      ).toBe(204);
    let password = '';
    for (const [id, index] of [
      [PA, 1],
      [PB, 2],
    ] as const) {
      const enrolled = await api('admin', 'POST', '/api/patients', {
        id,
        programId: 'addiction_care',
        displayName: `Patient ${id}`,
        careTeamId: 'team-addiction',
      });
      expect(enrolled.status).toBe(201);
      await recordConsent(pg.pool, { patientId: id, professionalId: 'ad-nurse' });
      await recordConsent(pg.pool, { patientId: id, professionalId: 'ad-counsellor' });
      if (id === PA) password = (await createGateway(pg.pool, { id: GW, patientId: id })).password;
      await bindDevice(pg.pool, {
        gatewayId: GW,
        address: CUFF.address,
        driver: CUFF.driver,
        patientId: id,
        userIndex: index,
      });
    }
    // a cardiovascular patient on the same box: the catalog's 130 /min applies to her
    await api('admin', 'POST', '/api/care-teams', {
      id: 'team-cv',
      programId: 'cardiovascular_prevention',
      name: 'CV',
    });
    expect(
      (
        await api('admin', 'POST', '/api/patients', {
          id: PCV,
          programId: 'cardiovascular_prevention',
          displayName: 'CV',
          careTeamId: 'team-cv',
        })
      ).status,
    ).toBe(201);
    await bindDevice(pg.pool, {
      gatewayId: GW,
      address: CUFF.address,
      driver: CUFF.driver,
      patientId: PCV,
      userIndex: 3,
    });
    const v = await pg.pool.query<{ program_version: number }>('SELECT program_version FROM patients WHERE id = $1', [
      PA,
    ]);
    expect(v.rows[0]!.program_version).toBe(1);

    gw = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: GW,
      username: GW,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await gw.subscribeAsync(topicFor(GW, 'receipts'), { qos: 1 });
    gw.on('message', (_t, payload) => {
      const r = receiptSchema.parse(JSON.parse(payload.toString('utf8')));
      waiting.get(r.batchId)?.();
    });

    const t0 = new Date(Date.now() - 60 * 60_000);
    await publishHeartRate(1, 118, 128, t0);
    await publishHeartRate(3, 118, 128, t0);
    const opened = await until('the addiction-care episode', async () => {
      const e = await episodes(PA);
      return e.length ? e : undefined;
    });
    expect(opened.map((e) => [e.rule_id, e.severity])).toEqual([['sepsis-red-flags', 'red']]);
    // the cardiovascular patient's reading was filed under the same receipt: no episode at 118 /min
    expect(await episodes(PCV)).toEqual([]);
  });

  it("each role sees what the program's definition says", async () => {
    // the nurse: alerts and readings
    const alerts = await api('nurse', 'GET', `/api/alerts?patientId=${PA}`);
    expect(alerts.status).toBe(200);
    expect(JSON.stringify(alerts.json)).toContain('sepsis-red-flags');
    expect((await api('nurse', 'GET', `/api/patients/${PA}/readings`)).status).toBe(200);
    // the counsellor: coaching and the patient list, never alerts nor readings
    expect((await api('counsellor', 'GET', `/api/patients/${PA}/coaching`)).status).toBe(200);
    const list = await api('counsellor', 'GET', '/api/patients');
    expect(list.status).toBe(200);
    expect((list.json as unknown as { patients: { id: string }[] }).patients.map((p) => p.id).sort()).toEqual([PA, PB]);
    for (const url of [
      `/api/alerts?patientId=${PA}`,
      `/api/patients/${PA}/readings`,
      `/api/patients/${PA}/trends?metric=heart_rate`,
    ]) {
      const r = await api('counsellor', 'GET', url);
      expect([url, r.status, r.json.code]).toEqual([url, 403, 'FORBIDDEN']);
    }
    // the coaching module takes the program's coaching role: a call for the counsellor
    const call = await api('counsellor', 'POST', `/api/patients/${PA}/coaching/calls`, {
      scheduledAt: new Date(Date.now() + 86_400_000).toISOString(),
      channel: 'phone',
    });
    expect(call.status).toBe(201);
    // a team of another program refuses the role
    await createProfessional(pg.pool, { id: 'ad-counsellor-2', displayName: 'C2', role: 'addiction_counsellor' });
    const wrong = await api('admin', 'POST', '/api/care-teams/team-cv/members', { professionalId: 'ad-counsellor-2' });
    expect([wrong.status, wrong.json.code]).toEqual([400, 'INVALID_REQUEST']);
  });
});

describe('a threshold change is a new, audited version that running hubs follow', () => {
  it('another hub lowers the threshold; this hub applies it without restart', async () => {
    const t1 = new Date(Date.now() - 50 * 60_000);
    await publishHeartRate(2, 104, 128, t1);
    expect(await episodes(PB)).toEqual([]);

    const changed = await api(
      'admin',
      'PUT',
      '/api/programs/addiction_care',
      { definition: addictionCare(100), reason: 'protocol review of the addiction unit', basedOn: 1 },
      'other',
    );
    expect([changed.status, changed.json.version]).toEqual([200, 2]);
    // a change based on an old version is refused, never silently overwritten
    const stale = await api('admin', 'PUT', '/api/programs/addiction_care', {
      definition: addictionCare(105),
      reason: 'stale editor',
      basedOn: 1,
    });
    expect([stale.status, stale.json.code]).toEqual([409, 'PROGRAM_VERSION_CONFLICT']);

    // the running hub drops its cache on the NOTIFY of the other hub's change
    await until('the hub to follow version 2', async () =>
      (await hub.rules.settings.programs.get('addiction_care'))?.version === 2 ? true : undefined,
    );
    // (other values than the first reading's: the same values again would be taken for a memory re-send)
    await publishHeartRate(2, 107, 131, new Date(t1.getTime() + 5 * 60_000));
    const opened = await until('the episode under version 2', async () => {
      const e = await episodes(PB);
      return e.length ? e : undefined;
    });
    expect(opened.map((e) => e.rule_id)).toEqual(['sepsis-red-flags']);

    // history: both versions kept, the old one unchanged; the change audited with what changed
    const versions = await api('admin', 'GET', '/api/programs/addiction_care/versions');
    expect((versions.json as unknown as { version: number }[]).map((x) => x.version)).toEqual([2, 1]);
    const v1 = await api('admin', 'GET', '/api/programs/addiction_care?version=1');
    expect(v1.json).toMatchObject({
      version: 1,
      current: 2,
      definition: { rules: { 'sepsis-red-flags': { params: { heartRateAbove: 110 } } } },
    });
    const audit = await pg.pool.query<{ actor: string; detail: { version: number; changed: string[] } }>(
      `SELECT actor, detail FROM audit_log WHERE action = 'program.versioned' AND entity_id = 'addiction_care'`,
    );
    expect(audit.rows).toEqual([
      { actor: 'prog-admin', detail: { version: 2, previous: 1, changed: ['rules.sepsis-red-flags'] } },
    ]);
    await expect(
      pg.pool.query(`UPDATE program_versions SET reason = 'x' WHERE program_id = 'addiction_care'`),
    ).rejects.toThrow(/PROGRAM_VERSION_IMMUTABLE/);
    // writes are for admins; the coordinating nurse reads
    const denied = await api('nurse', 'PUT', '/api/programs/addiction_care', {
      definition: addictionCare(90),
      reason: 'nurse',
    });
    expect([denied.status, denied.json.code]).toEqual([403, 'FORBIDDEN']);
    expect((await api('nurse', 'GET', '/api/programs')).status).toBe(200);
  }, 120_000);

  it('a retired program takes no new patient; its patients stay followed', async () => {
    await api('admin', 'POST', '/api/programs', {
      definition: { ...addictionCare(110), id: 'short_lived' },
      reason: 'pilot',
    });
    const retired = await api('admin', 'POST', '/api/programs/short_lived/retire', { reason: 'pilot over' });
    expect(retired.status).toBe(204);
    const again = await api('admin', 'PUT', '/api/programs/short_lived', {
      definition: { ...addictionCare(110), id: 'short_lived' },
      reason: 'one more change',
    });
    expect([again.status, again.json.code]).toEqual([409, 'PROGRAM_RETIRED']);
    const team = await api('admin', 'POST', '/api/care-teams', {
      id: 'team-short',
      programId: 'short_lived',
      name: 'S',
    });
    expect([team.status, team.json.code]).toEqual([404, 'PROGRAM_NOT_FOUND']);
  });
});

describe('questionnaires and content follow the definition', () => {
  it('assigns the questionnaires of the program at enrollment, on the program schedule', async () => {
    const unknown = await api('admin', 'POST', '/api/programs', {
      definition: {
        ...addictionCare(110),
        id: 'with_unknown_q',
        questionnaires: [{ id: 'no-such-form', everyDays: 7 }],
      },
      reason: 'test',
    });
    expect([unknown.status, unknown.json.code]).toEqual([400, 'QUESTIONNAIRE_UNKNOWN']);
    const def = {
      ...addictionCare(110),
      id: 'chemo_pilot',
      metrics: ['heart_rate', 'blood_pressure_systolic', 'blood_pressure_diastolic', 'body_temperature'],
      rules: { 'chemo-fever': {} },
      questionnaires: [{ id: 'oral-chemo-weekly', everyDays: 3, onEnrollment: true }],
      content: { articles: ['fiche-capecitabine'], tags: [] },
    };
    expect((await api('admin', 'POST', '/api/programs', { definition: def, reason: 'pilot' })).status).toBe(201);
    await api('admin', 'POST', '/api/care-teams', { id: 'team-pilot', programId: 'chemo_pilot', name: 'Pilot' });
    const enrolled = await api('admin', 'POST', '/api/patients', {
      id: 'PI-P1',
      programId: 'chemo_pilot',
      displayName: 'Pilot',
      careTeamId: 'team-pilot',
    });
    expect(enrolled.status).toBe(201);
    const { rows } = await pg.pool.query<{ questionnaire_id: string; every_days: number }>(
      'SELECT questionnaire_id, every_days FROM questionnaire_assignments WHERE patient_id = $1',
      ['PI-P1'],
    );
    expect(rows).toEqual([{ questionnaire_id: 'oral-chemo-weekly', every_days: 3 }]);
  });
});

describe('back-test', () => {
  it("compares the episodes a proposed threshold would open on a patient's recent readings", async () => {
    const res = await api('nurse', 'POST', '/api/programs/addiction_care/backtest', {
      definition: addictionCare(120),
      patientId: PB,
      days: 2,
    });
    expect(res.status).toBe(200);
    const r = res.json as unknown as {
      currentVersion: number;
      totals: { current: number; proposed: number; added: number; removed: number };
      scenarios: { removed: { rule: string }[]; added: unknown[] }[];
    };
    expect(r.currentVersion).toBe(2);
    // under version 2 (100 /min) the 104 /min readings open an episode; at 120 /min they would not
    // (missing data opens under both: the replayed patient had no reading for a day before these)
    expect(r.scenarios[0]!.removed.map((e) => e.rule)).toEqual(['sepsis-red-flags']);
    expect(r.scenarios[0]!.added).toEqual([]);
    expect(r.totals.current - r.totals.proposed).toBe(1);
    // an admin has no clinical access: the patient's readings are not hers to replay
    const admin = await api('admin', 'POST', '/api/programs/addiction_care/backtest', { patientId: PB });
    expect(admin.status).toBe(403);
  }, 120_000);

  it('runs library scenarios under a proposed version of a built-in program', async () => {
    const cur = await api('admin', 'GET', '/api/programs/cardiovascular_prevention');
    const def = cur.json.definition as { rules: Record<string, unknown> };
    const res = await api('admin', 'POST', '/api/programs/cardiovascular_prevention/backtest', {
      definition: { ...def, rules: { ...def.rules, 'bp-hypertensive-crisis': { enabled: false, params: {} } } },
      scenarios: ['red-bp-crisis-confirmed'],
    });
    expect(res.status).toBe(200);
    const r = res.json as unknown as { totals: { current: number; removed: number } };
    expect(r.totals.current).toBeGreaterThan(0);
    expect(r.totals.removed).toBeGreaterThan(0);
  }, 120_000);
});
