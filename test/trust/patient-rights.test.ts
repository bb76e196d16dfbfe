import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicFor } from '../../contract';
import {
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
  createWebhook,
} from '../../hub/admin/provisioning';
import { enforceRetention, DEFAULT_RETENTION_DAYS } from '../../hub/admin/retention';
import { scheduleCall } from '../../hub/coaching/calls';
import { createGoal } from '../../hub/coaching/goals';
import { newKeySpec } from '../../hub/messaging/kms';
import { startTrustHub, TestGateway, webhookReceiver, type TrustHub } from './support';

/**
 * The patient's rights with real services (docs/privacy.md): export of the whole record as a FHIR
 * R4 Bundle from the API and the CLI, then erasure that leaves no trace of the patient in any
 * PostgreSQL table nor in InfluxDB; the access log is append-only; retention deletes what is past
 * its time and nothing else.
 */
const PID = 'ERASE-7Q4';
const MESSAGE_KEYS = newKeySpec('k1');
/** written in a message body: encrypted at rest, in clear in the export */
const SECRET_WORDS = 'my ankles swell since Tuesday';
/** rows of the patient's messages, coaching and questionnaires, by table (this hub has no other patient with messages) */
const SIDE_TABLES = {
  message_threads: `SELECT count(*)::int AS n FROM message_threads WHERE patient_id = $1`,
  all_messages: `SELECT count(*)::int AS n FROM messages WHERE $1::text IS NOT NULL`,
  message_attachments: `SELECT count(*)::int AS n FROM message_attachments WHERE $1::text IS NOT NULL`,
  message_reads: `SELECT count(*)::int AS n FROM message_reads WHERE $1::text IS NOT NULL`,
  coaching_goals: `SELECT count(*)::int AS n FROM coaching_goals WHERE patient_id = $1`,
  coaching_calls: `SELECT count(*)::int AS n FROM coaching_calls WHERE patient_id = $1`,
  questionnaire_responses: `SELECT count(*)::int AS n FROM questionnaire_responses WHERE patient_id = $1`,
  questionnaire_assignments: `SELECT count(*)::int AS n FROM questionnaire_assignments WHERE patient_id = $1`,
};
async function sideRows(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, q] of Object.entries(SIDE_TABLES))
    out[k] = (await t.pg.pool.query<{ n: number }>(q, [PID])).rows[0]!.n;
  return out;
}
let t: TrustHub;
let gw: TestGateway;
let rx: Awaited<ReturnType<typeof webhookReceiver>>;
let adminToken = '';
let nurseToken = '';

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${t.hub.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Every row of every table of the public schema whose text mentions the patient id. */
async function pgTraces(): Promise<string[]> {
  const { rows: tables } = await t.pg.pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  const found: string[] = [];
  for (const { table_name } of tables) {
    const q = await t.pg.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table_name} x WHERE x::text LIKE '%' || $1 || '%'`,
      [PID],
    );
    if (q.rows[0]!.n > 0) found.push(`${table_name}: ${q.rows[0]!.n}`);
  }
  return found;
}

async function influxTraces(): Promise<number> {
  const raw = (await t.hub.timeseries.influx.queryRaw('SHOW SERIES', { database: t.influx.database })) as {
    results: { series?: { values: string[][] }[] }[];
  };
  return (raw.results[0]?.series?.[0]?.values ?? []).filter((v) => v[0]!.includes(PID)).length;
}

beforeAll(async () => {
  t = await startTrustHub('vigil_rights', { patient: { messageKeys: MESSAGE_KEYS } });
  rx = await webhookReceiver();
  await createPatient(t.pg.pool, {
    id: PID,
    programId: 'oral_chemotherapy',
    displayName: 'Jeanne Erase',
    birthYear: 1952,
  });
  const { password } = await createGateway(t.pg.pool, { id: 'gw-erase-box', patientId: PID });
  const team = await createCareTeamWithMembers(t.pg.pool, {
    id: 'team-er',
    programId: 'oral_chemotherapy',
    name: 'Team ER',
    patientIds: [PID],
  });
  nurseToken = team.coordinating_nurse.token;
  adminToken = (await createProfessional(t.pg.pool, { id: 'admin-er', displayName: 'DPO', role: 'admin' })).token;
  await createWebhook(t.pg.pool, { careTeamId: 'team-er', url: rx.url, profile: 'development' });
  gw = await TestGateway.connect(t.hub.mqttUrl, 'gw-erase-box', password);
  const now = Date.now();
  expect((await gw.measure('body_temperature', 39.2, new Date(now - 3_600_000))).outcome).toBe('stored');
  expect((await gw.measure('body_weight', 71.5, new Date(now - 1_800_000))).outcome).toBe('stored');
  expect((await gw.measure('heart_rate', 82, new Date(now - 600_000))).outcome).toBe('stored');
  await t.hub.webhooks.runOnce();
  // a malformed payload from the box: a dead letter carrying the patient's data
  await gw.client.publishAsync(topicFor('gw-erase-box', 'readings'), `{"patient":"${PID}", broken`, { qos: 1 });
  // reads by the care team (audited)
  expect((await api('GET', `/api/patients/${PID}/readings`, nurseToken)).status).toBe(200);
  // messages (encrypted at rest), one tied to the fever episode; coaching; a questionnaire answer
  const nurse = {
    kind: 'professional' as const,
    professional: { id: team.coordinating_nurse.professionalId, role: 'coordinating_nurse' as const },
  };
  const messages = t.hub.patientSide.messages!;
  const thread = await messages.createThread(nurse, PID, 'patient', 'Your weight', {
    body: 'How is your weight this week?',
  });
  await messages.post({ kind: 'patient', id: PID, patientId: PID }, thread.threadId, { body: SECRET_WORDS });
  const episode = await t.pg.pool.query<{ id: string }>('SELECT id FROM alert_episodes WHERE patient_id = $1 LIMIT 1', [
    PID,
  ]);
  expect(episode.rows).toHaveLength(1);
  await t.pg.pool.query('UPDATE messages SET episode_id = $1 WHERE id = $2', [episode.rows[0]!.id, thread.messageId]);
  const coach = team.coaching_nurse.professionalId;
  await createGoal(
    t.pg.pool,
    {
      patientId: PID,
      kind: 'steps_per_day',
      baseline: 3000,
      target: 6000,
      dueOn: '2027-03-01',
      note: 'walk after lunch',
    },
    coach,
    new Date(),
  );
  await scheduleCall(
    t.pg.pool,
    { patientId: PID, coachId: coach, channel: 'phone', scheduledAt: new Date(now + 86_400_000) },
    coach,
  );
  await t.pg.pool.query(
    `INSERT INTO questionnaire_responses (patient_id, questionnaire_id, author_kind, author_id, resource, outcome, episode_id, authored_at)
     VALUES ($1, 'pro-ctcae-test', 'patient', $1, $2, '{}', $3, now())`,
    [
      PID,
      JSON.stringify({
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'urn:test',
        item: [{ linkId: 'q1', answer: [{ valueInteger: 2 }] }],
      }),
      episode.rows[0]!.id,
    ],
  );
}, 60_000);

afterAll(async () => {
  await gw.end().catch(() => {});
  await rx.close();
  await t.stop();
});

describe('export', () => {
  it('the admin exports the whole record as a FHIR R4 Bundle; a nurse may not', async () => {
    expect((await api('GET', `/api/patients/${PID}/export`, nurseToken)).status).toBe(403);
    const r = await api('GET', `/api/patients/${PID}/export`, adminToken);
    expect(r.status).toBe(200);
    const bundle = r.json as { resourceType: string; type: string; entry: { resource: { resourceType: string } }[] };
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    const kinds = bundle.entry.map((e) => e.resource.resourceType);
    expect(kinds.filter((k) => k === 'Patient')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'Observation')).toHaveLength(3);
    expect(kinds).toContain('Task');
    expect(kinds).toContain('Flag');
    const consents = await t.pg.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM patient_consents WHERE patient_id = $1',
      [PID],
    );
    expect(consents.rows[0]!.n).toBeGreaterThan(0);
    expect(kinds.filter((k) => k === 'Consent').length).toBe(consents.rows[0]!.n);
    // messages decrypted as Communication, coaching as Goal + CarePlan, answers as QuestionnaireResponse
    const of = (k: string) =>
      bundle.entry.map((e) => e.resource as unknown as Record<string, unknown>).filter((x) => x.resourceType === k);
    const comms = of('Communication') as { payload: { contentString?: string }[]; topic: { text: string } }[];
    expect(comms).toHaveLength(2);
    expect(comms.map((c) => c.payload[0]!.contentString)).toContain(SECRET_WORDS);
    expect(comms[0]!.topic.text).toBe('Your weight');
    expect(of('Goal')).toMatchObject([{ lifecycleStatus: 'active', target: [{ detailQuantity: { value: 6000 } }] }]);
    expect(of('CarePlan')).toMatchObject([{ activity: [{ detail: { kind: 'Appointment', status: 'scheduled' } }] }]);
    expect(of('QuestionnaireResponse')).toMatchObject([
      { status: 'completed', subject: { reference: `Patient/${PID}` } },
    ]);
    const patient = bundle.entry[0]!.resource as unknown as { name: { text: string }[]; birthDate: string };
    expect(patient).toMatchObject({ name: [{ text: 'Jeanne Erase' }], birthDate: '1952' });
    // the export and the refusal are in the access log
    const { rows } = await t.pg.pool.query<{ actor: string; outcome: string }>(
      `SELECT actor, outcome FROM access_log WHERE patient_id = $1 AND route = '/api/patients/:id/export' ORDER BY id`,
      [PID],
    );
    expect(rows).toEqual([
      { actor: 'team-er-coordinating-nurse', outcome: 'refused' },
      { actor: 'admin-er', outcome: 'allowed' },
    ]);
  });

  it('the CLI exports the same Bundle', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'hub/cli.ts', 'export-patient', PID],
      {
        env: {
          ...process.env,
          VIGIL_PG_URL: t.pg.url,
          VIGIL_INFLUX_URL: t.influx.url,
          VIGIL_INFLUX_DATABASE: t.influx.database,
          VIGIL_PROFILE: 'development',
          VIGIL_MESSAGE_KEYS: MESSAGE_KEYS,
        },
      },
    );
    const bundle = JSON.parse(stdout) as {
      entry: { resource: { resourceType: string; payload?: { contentString?: string }[] } }[];
    };
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'Observation')).toHaveLength(3);
    const bodies = bundle.entry.flatMap((e) => e.resource.payload ?? []).map((x) => x.contentString);
    expect(bodies).toContain(SECRET_WORDS);
    expect(bundle.entry.map((e) => e.resource.resourceType)).toEqual(
      expect.arrayContaining(['Goal', 'CarePlan', 'QuestionnaireResponse']),
    );
  }, 60_000);
});

describe('erasure', () => {
  it('leaves no trace of the patient in PostgreSQL or InfluxDB; the logs keep a pseudonym', async () => {
    expect((await pgTraces()).length).toBeGreaterThan(5);
    // the message bodies are encrypted, so the text search above cannot see them: count the rows
    expect(await sideRows()).toMatchObject({
      message_threads: 1,
      all_messages: 2,
      coaching_goals: 1,
      coaching_calls: 1,
      questionnaire_responses: 1,
    });
    expect(await influxTraces()).toBeGreaterThan(0);
    expect((await api('POST', `/api/patients/${PID}/erasure`, nurseToken, { confirm: PID })).status).toBe(403);
    expect((await api('POST', `/api/patients/${PID}/erasure`, adminToken, { confirm: 'OTHER-1' })).status).toBe(400);
    const r = await api('POST', `/api/patients/${PID}/erasure`, adminToken, { confirm: PID });
    expect(r.status).toBe(200);
    const pseudonym = r.json.pseudonym as string;
    expect(pseudonym).toMatch(/^erased-/);
    // the erasure request itself is logged after the erasure, under the pseudonym
    expect(await pgTraces()).toEqual([]);
    expect(Object.values(await sideRows()).filter((n) => n > 0)).toEqual([]);
    expect(await influxTraces()).toBe(0);
    const points = (await t.hub.timeseries.influx.queryRaw(`SELECT * FROM /.*/ WHERE "patient" = '${PID}'`, {
      database: t.influx.database,
    })) as { results: { series?: unknown[] }[] };
    expect(points.results[0]?.series ?? []).toEqual([]);
    const { rows } = await t.pg.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM access_log WHERE patient_id = $1',
      [pseudonym],
    );
    expect(rows[0]!.n).toBeGreaterThanOrEqual(3);
    // the box is revoked
    const box = await t.pg.pool.query<{ revoked: boolean }>(
      `SELECT revoked_at IS NOT NULL AS revoked FROM gateways WHERE id = 'gw-erase-box'`,
    );
    expect(box.rows[0]!.revoked).toBe(true);
    expect((await api('GET', `/api/patients/${PID}`, adminToken)).status).toBe(404);
  });
});

describe('access log and retention', () => {
  it('the access and audit logs refuse UPDATE, DELETE and TRUNCATE', async () => {
    await expect(t.pg.pool.query(`UPDATE access_log SET actor = 'someone-else'`)).rejects.toThrow(/AUDIT_APPEND_ONLY/);
    await expect(t.pg.pool.query('DELETE FROM access_log')).rejects.toThrow(/AUDIT_APPEND_ONLY/);
    await expect(t.pg.pool.query('DELETE FROM audit_log')).rejects.toThrow(/AUDIT_APPEND_ONLY/);
    await expect(t.pg.pool.query('TRUNCATE access_log')).rejects.toThrow(/AUDIT_APPEND_ONLY/);
    // the pseudonymisation switch does not allow anything else
    const c = await t.pg.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SELECT set_config('vigil.pseudonymise', 'on', true)`);
      await expect(c.query(`UPDATE access_log SET status = 200`)).rejects.toThrow(/AUDIT_APPEND_ONLY/);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
  });

  it('retention deletes what is past its time in each store and nothing else', async () => {
    const old = new Date(Date.now() - 4 * 365 * 86_400_000);
    await t.pg.pool.query(
      `INSERT INTO dead_letters (gateway_id, topic, code, reason, payload, received_at) VALUES ('gw-x', 't', 'MALFORMED_JSON', 'r', 'p', $1), ('gw-x', 't', 'MALFORMED_JSON', 'r', 'p', now())`,
      [old],
    );
    await t.pg.pool.query(
      `INSERT INTO access_log (at, actor, action, status, outcome) VALUES ($1, 'a', 'GET old', 200, 'allowed')`,
      [old],
    );
    const before = await t.pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM access_log');
    const r = await enforceRetention(t.pg.pool, DEFAULT_RETENTION_DAYS);
    expect(r.deadLetters).toBe(1);
    expect(r.accessLog).toBe(1);
    const after = await t.pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM access_log');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n - 1);
    const dl = await t.pg.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM dead_letters WHERE gateway_id = 'gw-x'`,
    );
    expect(dl.rows[0]!.n).toBe(1);
  });
});
