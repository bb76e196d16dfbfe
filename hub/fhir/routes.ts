import type { FastifyRequest } from 'fastify';
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
import { episodeRow, EPISODE_COLUMNS, ledgerRow, loadLedgerRows, type EpisodeDbRow, type LedgerDbRow } from './load';
import { toObservations } from './observation';
import { decodeCursor, MAX_PAGE, searchsetPage, type Cursor, type FhirResource } from './paging';
import { toPatient } from './patient';
import { toTask } from './task';

const resourceSchema = z.record(z.string(), z.unknown());
const FHIR_JSON = 'application/fhir+json';

const pageParams = {
  _count: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  _cursor: z.string().max(200).optional(),
};
const patientParam = z
  .string()
  .transform((s) => s.replace(/^Patient\//, ''))
  .pipe(patientIdSchema);

const baseUrl = (req: FastifyRequest) => `${req.protocol}://${req.host}/fhir`;
const selfUrl = (req: FastifyRequest) => `${req.protocol}://${req.host}${req.url}`;

/** LOINC code -> metrics (a panel code selects systolic and diastolic). */
function metricsForCode(code: string): string[] {
  const c = code.includes('|') ? code.slice(code.indexOf('|') + 1) : code;
  if (c === BP_PANEL.code) return ['blood_pressure_systolic', 'blood_pressure_diastolic'];
  if (c === '2708-6') return ['spo2'];
  return METRIC_NAMES.filter((m) => (METRICS[m] as { loinc?: string }).loinc === c);
}

const DATE_OPS = { ge: '>=', le: '<=', gt: '>', lt: '<', eq: '=' } as const;

/**
 * FHIR R4 server surface (docs/fhir.md): CapabilityStatement, Patient, Observation (from the reading
 * ledger, with the webhooks' identifiers), Device (bound devices) and Task (alert episodes), search
 * with paging through `next` links. The same authorization as the API: role, care team, consent.
 */
export function registerFhirRoutes(app: ZApp, ctx: ApiContext): void {
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
      const id = q._id ?? (q.identifier ? q.identifier.slice(q.identifier.indexOf('|') + 1) : undefined);
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
          patient: patientParam,
          code: z.string().optional(),
          date: z.union([z.string(), z.array(z.string())]).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query;
      await requirePatient(ctx.pool, p, 'readings.read', q.patient);
      const params: unknown[] = [q.patient, NOT_OBSERVATIONS];
      const where = ['patient_id = $1', 'NOT (metric = ANY($2::text[]))'];
      if (q.code) {
        const metrics = metricsForCode(q.code);
        if (metrics.length === 0) throw new ApiError('INVALID_REQUEST', `unsupported code ${q.code}`);
        where.push(`metric = ANY($${params.push(metrics)}::text[])`);
      }
      for (const d of q.date === undefined ? [] : Array.isArray(q.date) ? q.date : [q.date]) {
        const m = /^(ge|le|gt|lt|eq)?(.+)$/.exec(d);
        const t = new Date(m?.[2] ?? '');
        if (!m || Number.isNaN(t.getTime())) throw new ApiError('INVALID_REQUEST', `bad date ${d}`);
        where.push(`measured_at ${DATE_OPS[(m[1] ?? 'eq') as keyof typeof DATE_OPS]} $${params.push(t)}`);
      }
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
      const interp = await ctx.pool.query<{ i: Record<string, 'H' | 'HH' | 'L' | 'LL'> }>(
        `SELECT interpretations i FROM alert_episodes WHERE patient_id = $1`,
        [q.patient],
      );
      const interpretations = Object.assign({}, ...interp.rows.map((r) => r.i)) as Record<
        string,
        'H' | 'HH' | 'L' | 'LL'
      >;
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
        querystring: z.object({ patient: patientParam, ...pageParams }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
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
      const q = req.query;
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
      const page = await keysetPage<EpisodeDbRow>(ctx, {
        select: `SELECT ${EPISODE_COLUMNS} FROM alert_episodes e`,
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

interface KeysetQuery<R> {
  select: string;
  where: string[];
  params: unknown[];
  /** SQL expression of the sort key and its type, and of the tie-breaking id (text) */
  key: string;
  keyType: 'timestamptz' | 'text';
  id: string;
  descending: boolean;
  count: number;
  cursor: Cursor | undefined;
  keyOf: (r: R) => string;
  idOf: (r: R) => string;
  /** keep every row sharing the last row's key on the same page (the two halves of a BP panel) */
  wholeKeys?: boolean;
}

/**
 * One keyset page: `count` rows after the cursor (plus the rest of the last row's key when
 * `wholeKeys`), the total number of matches, and the cursor of the next page when more remain.
 */
async function keysetPage<R>(
  ctx: ApiContext,
  k: KeysetQuery<R>,
): Promise<{ rows: R[]; total: number; next: Cursor | undefined }> {
  const dir = k.descending ? 'DESC' : 'ASC';
  const cmp = k.descending ? '<' : '>';
  const filter = k.where.join(' AND ');
  const total = await ctx.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM (${k.select} WHERE ${filter}) m`,
    k.params,
  );
  /** rows strictly after a position, in page order */
  const after = (pos: Cursor | undefined, limit: number | null, sameKey = false) => {
    const params = [...k.params];
    const where = [filter];
    if (pos) {
      const key = `$${params.push(pos.k)}::${k.keyType}`;
      const id = `$${params.push(pos.id)}::text`;
      where.push(sameKey ? `${k.key} = ${key} AND ${k.id} ${cmp} ${id}` : `(${k.key}, ${k.id}) ${cmp} (${key}, ${id})`);
    }
    return ctx.pool.query<R & Record<string, unknown>>(
      `${k.select} WHERE ${where.join(' AND ')} ORDER BY ${k.key} ${dir}, ${k.id} ${dir}${limit === null ? '' : ` LIMIT ${limit}`}`,
      params,
    );
  };
  const position = (r: R): Cursor => ({ k: k.keyOf(r), id: k.idOf(r) });
  const { rows } = await after(k.cursor, k.count + 1);
  const served = rows.slice(0, k.count);
  let more = rows.length > k.count;
  const lastServed = served[served.length - 1];
  if (more && k.wholeKeys && lastServed) {
    const rest = await after(position(lastServed), null, true);
    served.push(...rest.rows);
    const groupEnd = rest.rows[rest.rows.length - 1];
    if (groupEnd) more = ((await after(position(groupEnd), 1)).rowCount ?? 0) > 0;
  }
  const last = served[served.length - 1];
  return { rows: served, total: Number(total.rows[0]?.n ?? 0), next: more && last ? position(last) : undefined };
}
