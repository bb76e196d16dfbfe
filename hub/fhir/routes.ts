import { z } from 'zod';
import { METRIC_NAMES, METRICS, patientIdSchema } from '../../contract';
import { audit } from '../alerts/audit';
import { episodeVisibilitySql } from '../api/routes/alerts';
import { patientScopeSql, requireCap, requirePatient } from '../api/authz';
import { bearer, who, type ApiContext, type ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import { capabilityStatement } from './capability';
import { BP_PANEL, NOT_OBSERVATIONS } from './codes';
import { toDevice } from './device';
import { episodeRow, episodeColumns, ledgerRow, loadLedgerRows, type EpisodeDbRow, type LedgerDbRow } from './load';
import { toObservations } from './observation';
import { baseUrl, dateConditions, FHIR_JSON, pageParams, patientParam, resourceSchema, selfUrl } from './http';
import { keysetPage } from './keyset';
import { decodeCursor, searchsetPage, type FhirResource } from './paging';
import { toPatient } from './patient';
import { toTask } from './task';
import type { PatientSide } from '../patient/side';
import { checkFhirScope, requiredPatient, scopedPatient } from './access';
import { toFlag } from './flag';
import { registerFhirRecordRoutes } from './routes-records';
import { registerDmpRoute } from './routes-dmp';

/** LOINC code -> metrics (a panel code selects systolic and diastolic). */
function metricsForCode(code: string): string[] {
  const c = code.includes('|') ? code.slice(code.indexOf('|') + 1) : code;
  if (c === BP_PANEL.code) return ['blood_pressure_systolic', 'blood_pressure_diastolic'];
  if (c === '2708-6') return ['spo2'];
  return METRIC_NAMES.filter((m) => (METRICS[m] as { loinc?: string }).loinc === c);
}

/**
 * FHIR R4 server surface (docs/fhir.md): CapabilityStatement, Patient, Observation (from the reading
 * ledger, with the webhooks' identifiers), Device (bound devices) and Task (alert episodes), search
 * with paging through `next` links. The same authorization as the API: role, care team, consent.
 */
export function registerFhirRoutes(app: ZApp, ctx: ApiContext, side: PatientSide): void {
  // SMART scopes before anything else the handlers check (hub/fhir/access.ts): deny by default
  app.addHook('preHandler', async (req) => {
    if (req.url.startsWith('/fhir/')) checkFhirScope(req);
    return Promise.resolve();
  });

  app.get(
    '/fhir/metadata',
    {
      schema: {
        tags: ['fhir'],
        summary: 'FHIR R4 CapabilityStatement: what this server serves (no token needed)',
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => reply.type(FHIR_JSON).send(capabilityStatement(baseUrl(req))),
  );

  app.get(
    '/fhir/Patient/:id',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Patient read',
        params: z.object({ id: patientIdSchema }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      scopedPatient(req, req.params.id);
      await requirePatient(ctx.pool, who(req), 'patients.read', req.params.id);
      const { rows } = await ctx.pool.query<PatientDbRow>(`${PATIENT_SELECT} WHERE pt.id = $1`, [req.params.id]);
      const row = rows[0];
      if (!row) throw new ApiError('NOT_FOUND', 'no such patient');
      return reply.type(FHIR_JSON).send(toPatient(patientRow(row)));
    },
  );

  app.get(
    '/fhir/Patient',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Patient search: the patients in my scope (_id, identifier, _count, paging)',
        querystring: z.object({ _id: patientIdSchema.optional(), identifier: z.string().optional(), ...pageParams }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'patients.read');
      const q = req.query;
      const params: unknown[] = [p.id];
      const where = [patientScopeSql(p, 'pt.id', '$1', false)];
      const id = scopedPatient(
        req,
        q._id ?? (q.identifier ? q.identifier.slice(q.identifier.indexOf('|') + 1) : undefined),
      );
      if (id !== undefined) where.push(`pt.id = $${params.push(id)}`);
      const page = await keysetPage<PatientDbRow>(ctx, {
        select: PATIENT_SELECT,
        where,
        params,
        key: 'pt.id',
        keyType: 'text',
        id: 'pt.id',
        descending: false,
        count: q._count,
        cursor: decodeCursor(q._cursor),
        keyOf: (r) => r.id,
        idOf: (r) => r.id,
      });
      return reply.type(FHIR_JSON).send(
        searchsetPage(
          baseUrl(req),
          selfUrl(req),
          page.rows.map((r) => toPatient(patientRow(r))),
          page.total,
          page.next,
        ),
      );
    },
  );

  app.get(
    '/fhir/Observation',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Observation search (patient required; code, date eq/ge/gt/le/lt, _count, paging)',
        querystring: z.object({
          patient: patientParam.optional(),
          code: z.string().optional(),
          date: z.union([z.string(), z.array(z.string())]).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = { ...req.query, patient: requiredPatient(req, req.query.patient) };
      await requirePatient(ctx.pool, p, 'readings.read', q.patient);
      const params: unknown[] = [q.patient, NOT_OBSERVATIONS];
      const where = ['patient_id = $1', 'NOT (metric = ANY($2::text[]))'];
      if (q.code) {
        const metrics = metricsForCode(q.code);
        if (metrics.length === 0) throw new ApiError('INVALID_REQUEST', `unsupported code ${q.code}`);
        where.push(`metric = ANY($${params.push(metrics)}::text[])`);
      }
      where.push(
        ...dateConditions('measured_at', q.date, params, (d) => new ApiError('INVALID_REQUEST', `bad date ${d}`)),
      );
      const page = await keysetPage<LedgerDbRow>(ctx, {
        select: `SELECT reading_id, patient_id, gateway_id, device_address, driver, metric, value, measured_at FROM reading_ledger`,
        where,
        params,
        // milliseconds, as the cursor carries them (JavaScript dates)
        key: "date_trunc('milliseconds', measured_at)",
        keyType: 'timestamptz',
        id: 'reading_id',
        descending: true,
        count: q._count,
        cursor: decodeCursor(q._cursor),
        keyOf: (r) => r.measured_at.toISOString(),
        idOf: (r) => r.reading_id,
        // a blood-pressure panel is never cut in two across pages: finish the instant of the last row
        wholeKeys: true,
      });
      // what the patient's episodes said of this page's readings (a later episode's word wins)
      const interp = await ctx.pool.query<{ reading_id: string; interpretation: 'H' | 'HH' | 'L' | 'LL' }>(
        `SELECT r.reading_id, r.interpretation FROM alert_episode_readings r JOIN alert_episodes e ON e.id = r.episode_id
          WHERE e.patient_id = $1 AND r.reading_id = ANY ($2::text[]) AND r.interpretation IS NOT NULL
          ORDER BY e.id, r.seq`,
        [q.patient, page.rows.map((r) => r.reading_id)],
      );
      const interpretations = Object.fromEntries(interp.rows.map((r) => [r.reading_id, r.interpretation]));
      await audit(ctx.pool, {
        actor: p.id,
        action: 'readings.viewed',
        entity: 'patient',
        entityId: q.patient,
        detail: { via: 'fhir', count: page.rows.length },
        at: ctx.clock.now(),
      });
      const observations = toObservations(page.rows.map(ledgerRow), interpretations);
      return reply.type(FHIR_JSON).send(searchsetPage(baseUrl(req), selfUrl(req), observations, page.total, page.next));
    },
  );

  app.get(
    '/fhir/Device',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: "FHIR R4 Device search: the patient's bound devices (patient required, paging)",
        querystring: z.object({ patient: patientParam.optional(), ...pageParams }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const q = { ...req.query, patient: requiredPatient(req, req.query.patient) };
      await requirePatient(ctx.pool, who(req), 'devices.read', q.patient);
      const page = await keysetPage<DeviceDbRow>(ctx, {
        select: `SELECT id::text AS binding_id, gateway_id, address, driver, user_index, patient_id FROM device_bindings`,
        where: ['patient_id = $1'],
        params: [q.patient],
        key: "lpad(id::text, 20, '0')",
        keyType: 'text',
        id: 'id::text',
        descending: false,
        count: q._count,
        cursor: decodeCursor(q._cursor),
        keyOf: (r) => r.binding_id.padStart(20, '0'),
        idOf: (r) => r.binding_id,
      });
      const devices = page.rows.map((r) =>
        toDevice({
          bindingId: r.binding_id,
          gatewayId: r.gateway_id,
          address: r.address,
          driver: r.driver,
          userIndex: r.user_index,
          patientId: r.patient_id,
        }),
      );
      return reply.type(FHIR_JSON).send(searchsetPage(baseUrl(req), selfUrl(req), devices, page.total, page.next));
    },
  );

  app.get(
    '/fhir/Task',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Task search: the alert episodes in my scope (patient, status, _count, paging)',
        querystring: z.object({
          patient: patientParam.optional(),
          status: z.enum(['requested', 'accepted', 'in-progress', 'completed']).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'alerts.read');
      const q = { ...req.query, patient: scopedPatient(req, req.query.patient) };
      if (q.patient) await requirePatient(ctx.pool, p, 'alerts.read', q.patient);
      const params: unknown[] = [p.id];
      const where = [episodeVisibilitySql(p)];
      if (q.patient) where.push(`e.patient_id = $${params.push(q.patient)}`);
      if (q.status === 'completed') where.push(`e.status = 'resolved'`);
      else if (q.status === 'requested') where.push(`e.status = 'open' AND e.assignee IS NULL`);
      else if (q.status === 'accepted')
        where.push(
          `((e.status = 'acknowledged' AND e.assignee IS NULL) OR (e.status = 'open' AND e.assignee IS NOT NULL))`,
        );
      else if (q.status === 'in-progress') where.push(`e.status = 'acknowledged' AND e.assignee IS NOT NULL`);
      const page = await episodePage(ctx, where, params, q);
      const tasks: FhirResource[] = [];
      for (const r of page.rows) {
        const ep = episodeRow(r);
        const obs = toObservations(await loadLedgerRows(ctx.pool, ep.triggerReadingIds), ep.interpretations);
        const team = await ctx.pool.query<{ care_team_id: string }>(
          'SELECT care_team_id FROM care_team_patients WHERE patient_id = $1 ORDER BY care_team_id LIMIT 1',
          [ep.patientId],
        );
        tasks.push(
          toTask(
            ep,
            obs.map((o) => `Observation/${o.id}`),
            team.rows[0]?.care_team_id ?? null,
          ) as FhirResource,
        );
      }
      return reply.type(FHIR_JSON).send(searchsetPage(baseUrl(req), selfUrl(req), tasks, page.total, page.next));
    },
  );

  app.get(
    '/fhir/Flag',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Flag search: the alert episodes in my scope as warnings (patient, status, _count, paging)',
        querystring: z.object({
          patient: patientParam.optional(),
          status: z.enum(['active', 'inactive']).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'alerts.read');
      const q = { ...req.query, patient: scopedPatient(req, req.query.patient) };
      if (q.patient) await requirePatient(ctx.pool, p, 'alerts.read', q.patient);
      const params: unknown[] = [p.id];
      const where = [episodeVisibilitySql(p)];
      if (q.patient) where.push(`e.patient_id = $${params.push(q.patient)}`);
      if (q.status === 'active') where.push(`e.status <> 'resolved'`);
      else if (q.status === 'inactive') where.push(`e.status = 'resolved'`);
      const page = await episodePage(ctx, where, params, q);
      const flags = page.rows.map((r) => toFlag(episodeRow(r)));
      return reply.type(FHIR_JSON).send(searchsetPage(baseUrl(req), selfUrl(req), flags, page.total, page.next));
    },
  );

  registerFhirRecordRoutes(app, ctx, side);
  registerDmpRoute(app, ctx, side);
}

/** One page of the alert episodes a Task or Flag search selects, newest first (keyset paging). */
function episodePage(
  ctx: ApiContext,
  where: string[],
  params: unknown[],
  q: { _count: number; _cursor?: string | undefined },
): ReturnType<typeof keysetPage<EpisodeDbRow>> {
  return keysetPage<EpisodeDbRow>(ctx, {
    select: `SELECT ${episodeColumns('e')} FROM alert_episodes e`,
    where,
    params,
    key: "date_trunc('milliseconds', e.opened_at)",
    keyType: 'timestamptz',
    id: "lpad(e.id::text, 20, '0')",
    descending: true,
    count: q._count,
    cursor: decodeCursor(q._cursor),
    keyOf: (r) => r.opened_at.toISOString(),
    idOf: (r) => r.id.padStart(20, '0'),
  });
}

interface PatientDbRow {
  id: string;
  program_id: string;
  display_name: string;
  birth_year: number | null;
}
const PATIENT_SELECT = `SELECT pt.id, pt.program_id, pt.display_name, pt.birth_year FROM patients pt`;
const patientRow = (r: PatientDbRow) => ({
  id: r.id,
  programId: r.program_id,
  displayName: r.display_name,
  birthYear: r.birth_year,
});

interface DeviceDbRow {
  binding_id: string;
  gateway_id: string;
  address: string;
  driver: string | null;
  user_index: number | null;
  patient_id: string;
}
