import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { escape, type InfluxDB } from 'influx';
import { patientIdSchema } from '../../contract';
import { audit, inTransaction } from '../alerts/audit';
import { episodeColumns, episodeRow, ledgerRow, type EpisodeDbRow } from '../fhir/load';
import { toObservations } from '../fhir/observation';
import { toTask } from '../fhir/task';
import { SYSTEM } from '../fhir/codes';
import type { ExportedThread } from '../messaging/store';

/**
 * The patient's rights (GDPR art. 7(3), 15, 17, 18, 20; docs/privacy.md):
 * - withdrawal of consent stops all processing from the next reading (migration 100);
 * - export of the whole record as one FHIR R4 Bundle (art. 15 access, art. 20 portability);
 * - erasure across PostgreSQL and InfluxDB, the audit trails kept but pseudonymised (art. 17).
 * Used by the API (hub/api/routes/privacy.ts) and the CLI (hub/cli.ts).
 */

export async function withdrawProcessing(pool: pg.Pool, patientId: string, actor: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    'UPDATE patients SET processing_withdrawn_at = coalesce(processing_withdrawn_at, now()) WHERE id = $1',
    [patientId],
  );
  if (!rowCount) return false;
  await audit(pool, {
    actor,
    action: 'consent.processing_withdrawn',
    entity: 'patient',
    entityId: patientId,
    at: new Date(),
  });
  return true;
}

/** The patient consents again to telemonitoring: readings are filed again from the next one. */
export async function resumeProcessing(pool: pg.Pool, patientId: string, actor: string): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE patients SET processing_withdrawn_at = NULL WHERE id = $1', [
    patientId,
  ]);
  if (!rowCount) return false;
  await audit(pool, {
    actor,
    action: 'consent.processing_resumed',
    entity: 'patient',
    entityId: patientId,
    at: new Date(),
  });
  return true;
}

export type FhirResource = Record<string, unknown> & { resourceType: string; id?: string };
export interface FhirBundle {
  resourceType: 'Bundle';
  type: 'collection';
  timestamp: string;
  total?: number;
  entry: { fullUrl: string; resource: FhirResource }[];
}

/** Consent row -> FHIR R4 Consent (patient-privacy scope, the professional as the consented actor). */
function toConsent(c: {
  patient_id: string;
  professional_id: string;
  granted_at: Date;
  revoked_at: Date | null;
  recorded_by: string;
}): FhirResource {
  return {
    resourceType: 'Consent',
    id: `${c.patient_id}-${c.professional_id}`.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64),
    status: c.revoked_at ? 'inactive' : 'active',
    scope: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${c.patient_id}` },
    dateTime: c.granted_at.toISOString(),
    organization: [{ display: `recorded by ${c.recorded_by}` }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: {
      type: 'permit',
      period: { start: c.granted_at.toISOString(), ...(c.revoked_at ? { end: c.revoked_at.toISOString() } : {}) },
      actor: [
        {
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] },
          reference: { reference: `Practitioner/${c.professional_id}` },
        },
      ],
    },
  };
}

/** Open episode -> FHIR R4 Flag (what a clinician must be aware of); every episode is also a Task. */
function toFlag(e: ReturnType<typeof episodeRow>): FhirResource {
  return {
    resourceType: 'Flag',
    id: `episode-${e.id}`,
    identifier: [{ system: SYSTEM.episode, value: String(e.id) }],
    status: e.status === 'resolved' ? 'inactive' : 'active',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' },
        ],
      },
    ],
    code: { coding: [{ system: SYSTEM.rule, code: e.ruleId, display: e.ruleTitle }], text: e.summary },
    subject: { reference: `Patient/${e.patientId}` },
    period: { start: e.openedAt.toISOString(), ...(e.resolvedAt ? { end: e.resolvedAt.toISOString() } : {}) },
  };
}

/**
 * The patient's whole record as a FHIR R4 Bundle (type collection): Patient, every Observation of
 * the reading ledger, every alert episode as Task and Flag, every Consent, and the device
 * bindings as Device. Undefined for an unknown patient.
 */
/** What the export needs beyond the database: the messages, decrypted (hub/messaging/store.ts). */
export interface ExportSources {
  /** absent: the hub has no message keys; a patient with messages then cannot be exported (MESSAGE_KEYS_MISSING) */
  messages?: ((patientId: string) => Promise<ExportedThread[]>) | undefined;
}

export class ExportError extends Error {
  constructor(
    readonly code: 'MESSAGE_KEYS_MISSING',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

const fhirId = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64);

/** A message -> FHIR R4 Communication (https://hl7.org/fhir/R4/communication.html); the thread is its topic. */
function toCommunications(patientId: string, t: ExportedThread): FhirResource[] {
  const who = (kind: string, id: string) =>
    kind === 'professional'
      ? { reference: `Practitioner/${fhirId(id)}` }
      : kind === 'patient'
        ? { reference: `Patient/${patientId}` }
        : { display: `caregiver ${id}` };
  return t.messages.map((m) => ({
    resourceType: 'Communication',
    id: `message-${m.id}`,
    identifier: [{ system: 'urn:vigil:message-thread', value: String(t.threadId) }],
    status: 'completed',
    category: [{ coding: [{ system: 'urn:vigil:thread-kind', code: t.kind }] }],
    priority: m.urgent ? 'urgent' : 'routine',
    subject: { reference: `Patient/${patientId}` },
    topic: { text: t.subject },
    sent: m.createdAt,
    sender: who(m.authorKind, m.authorId),
    payload: [
      { contentString: m.body },
      ...m.attachments.map((a) => ({
        contentAttachment: { contentType: a.mediaType, title: a.filename, data: a.base64 },
      })),
    ],
  }));
}

interface GoalRow {
  id: string;
  kind: string;
  baseline: number;
  target: number;
  due_on: string;
  status: 'active' | 'achieved' | 'stopped';
  note: string | null;
  set_by: string;
  set_at: Date;
  closed_at: Date | null;
}
interface CallRow {
  id: string;
  coach_id: string;
  channel: string;
  scheduled_at: Date;
  status: 'scheduled' | 'done' | 'missed' | 'cancelled';
  note: string | null;
  reported: unknown;
  completed_at: Date | null;
}

/**
 * Coaching -> FHIR R4 Goal per goal (https://hl7.org/fhir/R4/goal.html) and one CarePlan
 * (https://hl7.org/fhir/R4/careplan.html) holding the goals and, as activities, the coaching calls
 * (kind Appointment; status scheduled / completed / not-done / cancelled; the call note as description,
 * what the participant reported as an extension).
 */
function toCoaching(patientId: string, goals: GoalRow[], calls: CallRow[]): FhirResource[] {
  if (!goals.length && !calls.length) return [];
  const goalRes: FhirResource[] = goals.map((g) => ({
    resourceType: 'Goal',
    id: `goal-${g.id}`,
    lifecycleStatus: g.status === 'active' ? 'active' : g.status === 'achieved' ? 'completed' : 'cancelled',
    ...(g.status === 'achieved'
      ? {
          achievementStatus: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/goal-achievement', code: 'achieved' }],
          },
        }
      : {}),
    description: { text: g.kind },
    subject: { reference: `Patient/${patientId}` },
    startDate: g.set_at.toISOString().slice(0, 10),
    expressedBy: { reference: `Practitioner/${fhirId(g.set_by)}` },
    target: [
      {
        measure: { coding: [{ system: 'urn:vigil:goal-kind', code: g.kind }] },
        detailQuantity: { value: g.target },
        dueDate: g.due_on,
      },
    ],
    extension: [{ url: 'urn:vigil:goal-baseline', valueDecimal: g.baseline }],
    ...(g.closed_at ? { statusDate: g.closed_at.toISOString().slice(0, 10) } : {}),
    ...(g.note ? { note: [{ text: g.note }] } : {}),
  }));
  const callStatus = { scheduled: 'scheduled', done: 'completed', missed: 'not-done', cancelled: 'cancelled' } as const;
  const plan: FhirResource = {
    resourceType: 'CarePlan',
    id: `coaching-${fhirId(patientId)}`,
    status: goals.some((g) => g.status === 'active') ? 'active' : 'completed',
    intent: 'plan',
    title: 'Coaching',
    subject: { reference: `Patient/${patientId}` },
    goal: goalRes.map((g) => ({ reference: `Goal/${g.id ?? ''}` })),
    activity: calls.map((c) => ({
      detail: {
        kind: 'Appointment',
        code: { coding: [{ system: 'urn:vigil:coaching-channel', code: c.channel }] },
        status: callStatus[c.status],
        scheduledPeriod: {
          start: c.scheduled_at.toISOString(),
          ...(c.completed_at ? { end: c.completed_at.toISOString() } : {}),
        },
        performer: [{ reference: `Practitioner/${fhirId(c.coach_id)}` }],
        ...(c.note ? { description: c.note } : {}),
        extension: [{ url: 'urn:vigil:call-reported', valueString: JSON.stringify(c.reported) }],
      },
    })),
  };
  return [...goalRes, plan];
}

export async function exportPatient(
  pool: pg.Pool,
  patientId: string,
  actor: string,
  sources: ExportSources = {},
): Promise<FhirBundle | undefined> {
  patientIdSchema.parse(patientId);
  const p = await pool.query<{
    id: string;
    program_id: string;
    display_name: string;
    birth_year: number | null;
    created_at: Date;
    processing_withdrawn_at: Date | null;
  }>(
    'SELECT id, program_id, display_name, birth_year, created_at, processing_withdrawn_at FROM patients WHERE id = $1',
    [patientId],
  );
  const patient = p.rows[0];
  if (!patient) return undefined;
  const [ledger, episodes, consents, devices, goals, calls, answers, threads] = await Promise.all([
    pool.query(
      `SELECT reading_id, patient_id, gateway_id, device_address, driver, metric, value, measured_at FROM reading_ledger
       WHERE patient_id = $1 ORDER BY measured_at, metric`,
      [patientId],
    ),
    pool.query<EpisodeDbRow>(
      `SELECT ${episodeColumns('alert_episodes')} FROM alert_episodes WHERE patient_id = $1 ORDER BY id`,
      [patientId],
    ),
    pool.query<{
      patient_id: string;
      professional_id: string;
      granted_at: Date;
      revoked_at: Date | null;
      recorded_by: string;
    }>(
      'SELECT patient_id, professional_id, granted_at, revoked_at, recorded_by FROM patient_consents WHERE patient_id = $1 ORDER BY granted_at',
      [patientId],
    ),
    pool.query<{ gateway_id: string; address: string; driver: string | null; user_index: number | null }>(
      'SELECT gateway_id, address, driver, user_index FROM device_bindings WHERE patient_id = $1 ORDER BY id',
      [patientId],
    ),
    pool.query<GoalRow>(
      `SELECT id, kind, baseline, target, due_on::text, status, note, set_by, set_at, closed_at FROM coaching_goals
       WHERE patient_id = $1 ORDER BY id`,
      [patientId],
    ),
    pool.query<CallRow>(
      `SELECT id, coach_id, channel, scheduled_at, status, note, reported, completed_at FROM coaching_calls
       WHERE patient_id = $1 ORDER BY scheduled_at, id`,
      [patientId],
    ),
    pool.query<{ id: string; resource: Record<string, unknown>; author_kind: string; author_id: string }>(
      'SELECT id, resource, author_kind, author_id FROM questionnaire_responses WHERE patient_id = $1 ORDER BY authored_at, id',
      [patientId],
    ),
    pool.query<{ n: number }>('SELECT count(*)::int AS n FROM message_threads WHERE patient_id = $1', [patientId]),
  ]);
  // an export without the messages would look complete and not be: refuse instead
  if ((threads.rows[0]?.n ?? 0) > 0 && !sources.messages)
    throw new ExportError('MESSAGE_KEYS_MISSING', 'the patient has messages and the hub has no message keys');
  const messages = sources.messages ? await sources.messages(patientId) : [];
  const resources: FhirResource[] = [
    {
      resourceType: 'Patient',
      id: patient.id,
      identifier: [{ system: 'urn:vigil:patient', value: patient.id }],
      name: [{ text: patient.display_name }],
      ...(patient.birth_year ? { birthDate: String(patient.birth_year) } : {}),
      extension: [
        { url: 'urn:vigil:program', valueCode: patient.program_id },
        { url: 'urn:vigil:enrolled-at', valueDateTime: patient.created_at.toISOString() },
        ...(patient.processing_withdrawn_at
          ? [{ url: 'urn:vigil:processing-withdrawn-at', valueDateTime: patient.processing_withdrawn_at.toISOString() }]
          : []),
      ],
    },
  ];
  const observations = toObservations(ledger.rows.map(ledgerRow));
  resources.push(...(observations as FhirResource[]));
  for (const raw of episodes.rows) {
    const e = episodeRow(raw);
    resources.push(
      toTask(
        e,
        e.triggerReadingIds.map((id) => `Observation/${id}`),
        null,
      ) as FhirResource,
      toFlag(e),
    );
  }
  resources.push(...consents.rows.map(toConsent));
  for (const d of devices.rows)
    resources.push({
      resourceType: 'Device',
      id: `${d.gateway_id}-${d.address}${d.user_index === null ? '' : `-${d.user_index}`}`.replace(
        /[^A-Za-z0-9.-]/g,
        '-',
      ),
      identifier: [{ system: SYSTEM.device, value: `${d.driver ?? 'unknown'}/${d.address}` }],
      patient: { reference: `Patient/${patientId}` },
    });
  for (const t of messages) resources.push(...toCommunications(patientId, t));
  resources.push(...toCoaching(patientId, goals.rows, calls.rows));
  // the stored answers are FHIR R4 QuestionnaireResponse already (hub/questionnaires/service.ts)
  for (const a of answers.rows)
    resources.push({
      ...a.resource,
      resourceType: 'QuestionnaireResponse',
      id: `qr-${a.id}`,
      subject: { reference: `Patient/${patientId}` },
    });
  await audit(pool, {
    actor,
    action: 'patient.exported',
    entity: 'patient',
    entityId: patientId,
    detail: { resources: resources.length },
    at: new Date(),
  });
  return {
    resourceType: 'Bundle',
    type: 'collection',
    timestamp: new Date().toISOString(),
    total: resources.length,
    entry: resources.map((r) => ({ fullUrl: `urn:vigil:${r.resourceType}/${r.id ?? ''}`, resource: r })),
  };
}

export interface ErasureReport {
  pseudonym: string;
  postgres: Record<string, number>;
  influxSeriesDropped: boolean;
}

/** Tables erased explicitly (order matters for foreign keys); any other table with a patient_id column is erased too. */
const KNOWN = new Set([
  'message_threads',
  'questionnaire_responses',
  'questionnaire_assignments',
  'coaching_goals',
  'coaching_calls',
  'webhook_deliveries',
  'notifications',
  'remeasure_requests',
  'alert_silences',
  'rule_overrides',
  'rule_setting_changes',
  'alert_episodes',
  'reading_ledger',
  'device_bindings',
  'enrollment_codes',
  'patient_consents',
  'care_team_patients',
  'gateways',
  'patients',
  'access_log',
]);

/**
 * Erases a patient (GDPR art. 17): processing stops first, then InfluxDB (every series tagged with
 * the patient, raw and daily, and the heartbeats of the patient's boxes), then one PostgreSQL
 * transaction: ledger, episodes, notifications, webhook payloads, quarantined readings and dead
 * letters of the patient's boxes, bindings, consents, team links, the patient row; the patient's
 * boxes are revoked. The access and audit logs are kept (accountability, art. 5(2)) with the id
 * replaced by a random pseudonym that nothing links back. Undefined for an unknown patient.
 */
export async function erasePatient(
  pool: pg.Pool,
  influx: Pick<InfluxDB, 'queryRaw'>,
  database: string,
  patientId: string,
  actor: string,
): Promise<ErasureReport | undefined> {
  patientIdSchema.parse(patientId);
  if (!(await withdrawProcessing(pool, patientId, actor))) return undefined;
  const boxes = (
    await pool.query<{ id: string }>('SELECT id FROM gateways WHERE patient_id = $1', [patientId])
  ).rows.map((r) => r.id);

  const drop = async (q: string) => {
    const raw = (await influx.queryRaw(q, { database })) as { results: { error?: string }[] };
    const err = raw.results.find((r) => r.error)?.error;
    if (err) throw Object.assign(new Error(`INFLUX_QUERY_FAILED: ${err}`), { code: 'ERASURE_FAILED' });
  };
  await drop(`DROP SERIES WHERE "patient" = ${escape.stringLit(patientId)}`);
  for (const gw of boxes) await drop(`DROP SERIES WHERE "gateway" = ${escape.stringLit(gw)}`);

  const pseudonym = `erased-${randomBytes(12).toString('hex')}`;
  const counts: Record<string, number> = {};
  await inTransaction(pool, async (c) => {
    const del = async (name: string, sql: string, params: unknown[]) => {
      counts[name] = (counts[name] ?? 0) + ((await c.query(sql, params)).rowCount ?? 0);
    };
    await c.query(`SELECT set_config('vigil.pseudonymise', 'on', true)`);
    // messages (threads cascade to messages, files, read marks) and questionnaire answers may
    // point at the patient's episodes: they go first; then the coaching plan
    await del('message_threads', 'DELETE FROM message_threads WHERE patient_id = $1', [patientId]);
    for (const t of ['questionnaire_responses', 'questionnaire_assignments', 'coaching_goals', 'coaching_calls'])
      await del(t, `DELETE FROM ${t} WHERE patient_id = $1`, [patientId]);
    await del(
      'webhook_deliveries',
      'DELETE FROM webhook_deliveries WHERE notification_id IN (SELECT id FROM notifications WHERE patient_id = $1)',
      [patientId],
    );
    await del('notifications', 'DELETE FROM notifications WHERE patient_id = $1', [patientId]);
    for (const t of ['remeasure_requests', 'alert_silences', 'rule_overrides', 'rule_setting_changes'])
      await del(t, `DELETE FROM ${t} WHERE patient_id = $1`, [patientId]);
    await del('alert_episodes', 'DELETE FROM alert_episodes WHERE patient_id = $1', [patientId]);
    await del('reading_ledger', 'DELETE FROM reading_ledger WHERE patient_id = $1', [patientId]);
    await del(
      'quarantined_readings',
      'DELETE FROM quarantined_readings WHERE assigned_patient_id = $1 OR gateway_id = ANY($2::text[])',
      [patientId, boxes],
    );
    await del('dead_letters', 'DELETE FROM dead_letters WHERE gateway_id = ANY($1::text[])', [boxes]);
    await del('device_bindings', 'DELETE FROM device_bindings WHERE patient_id = $1', [patientId]);
    await del('enrollment_codes', 'DELETE FROM enrollment_codes WHERE patient_id = $1', [patientId]);
    await del(
      'gateways',
      'UPDATE gateways SET patient_id = NULL, revoked_at = coalesce(revoked_at, now()), credential_hash = NULL WHERE patient_id = $1',
      [patientId],
    );
    // tables added later (messages, coaching...) that name the patient, by a patient_id column or a
    // foreign key to patients: erased too, never forgotten. Their order is not known, so each pass
    // tries every table under a savepoint and the next pass retries what a foreign key held back.
    const others = await c.query<{ table_name: string; column_name: string }>(
      `SELECT DISTINCT table_name::text, column_name::text FROM (
         SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND column_name = 'patient_id'
         UNION
         SELECT cl.relname, a.attname FROM pg_constraint k
           JOIN pg_class cl ON cl.oid = k.conrelid
           JOIN pg_namespace n ON n.oid = cl.relnamespace AND n.nspname = 'public'
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
          WHERE k.contype = 'f' AND k.confrelid = 'public.patients'::regclass
       ) t WHERE table_name <> ALL($1::text[]) ORDER BY 1, 2`,
      [[...KNOWN]],
    );
    let pending = others.rows;
    for (let pass = 0; pending.length && pass < 10; pass++) {
      const held: typeof pending = [];
      for (const o of pending) {
        await c.query('SAVEPOINT erase_other');
        try {
          await del(
            o.table_name,
            `DELETE FROM ${c.escapeIdentifier(o.table_name)} WHERE ${c.escapeIdentifier(o.column_name)} = $1`,
            [patientId],
          );
          await c.query('RELEASE SAVEPOINT erase_other');
        } catch (e) {
          await c.query('ROLLBACK TO SAVEPOINT erase_other');
          if ((e as { code?: string }).code !== '23503') throw e; // only foreign keys are retried
          held.push(o);
        }
      }
      pending = held;
    }
    await del('patients', 'DELETE FROM patients WHERE id = $1', [patientId]);
    await del(
      'access_log',
      `UPDATE access_log SET patient_id = CASE WHEN patient_id = $1 THEN $2 ELSE patient_id END,
              actor = CASE WHEN actor = $1 OR actor = 'patient:' || $1 THEN $2 ELSE actor END
       WHERE patient_id = $1 OR actor = $1 OR actor = 'patient:' || $1`,
      [patientId, pseudonym],
    );
    // the actor too where the patient acted herself (`patient:<id>` in the patient space; migration 212)
    await del(
      'audit_log',
      `UPDATE audit_log SET entity_id = CASE WHEN entity = 'patient' AND entity_id = $1 THEN $2 ELSE entity_id END,
              detail = CASE WHEN detail->>'patientId' = $1 THEN jsonb_set(detail, '{patientId}', to_jsonb($2::text)) ELSE detail END,
              actor = CASE WHEN actor = $1 OR actor = 'patient:' || $1 THEN $2 ELSE actor END
       WHERE (entity = 'patient' AND entity_id = $1) OR detail->>'patientId' = $1 OR actor = $1 OR actor = 'patient:' || $1`,
      [patientId, pseudonym],
    );
    await audit(c, {
      actor,
      action: 'patient.erased',
      entity: 'patient',
      entityId: pseudonym,
      detail: { rows: counts },
      at: new Date(),
    });
  });
  return { pseudonym, postgres: counts, influxSeriesDropped: true };
}
