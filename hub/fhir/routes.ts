import { z } from 'zod';
import { METRIC_NAMES, METRICS, patientIdSchema } from '../../contract';
import { audit } from '../alerts/audit';
import { episodeVisibilitySql } from '../api/routes/alerts';
import { requireCap, requirePatient } from '../api/authz';
import { bearer, who, type ApiContext, type ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import { BP_PANEL } from './codes';
import type { Interpretation } from '../rules/rule';
import { episodeRow, EPISODE_COLUMNS, ledgerRow, loadLedgerRows, type EpisodeDbRow, type LedgerDbRow } from './load';
import { toObservations } from './observation';
import { toTask } from './task';

const resourceSchema = z.record(z.string(), z.unknown());
const searchset = (base: string, resources: Record<string, unknown>[]) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: resources.length,
  entry: resources.map((r) => ({
    fullUrl: `${base}/${r.resourceType as string}/${r.id as string}`,
    resource: r,
    search: { mode: 'match' },
  })),
});

/** LOINC code -> metrics (a panel code selects systolic and diastolic). */
function metricsForCode(code: string): string[] {
  const [head, afterBar] = code.split('|'); // system|code
  const c = afterBar ?? head ?? code;
  if (c === BP_PANEL.code) return ['blood_pressure_systolic', 'blood_pressure_diastolic'];
  if (c === '2708-6') return ['spo2'];
  return METRIC_NAMES.filter((m) => (METRICS[m] as { loinc?: string }).loinc === c);
}

/**
 * Read-only FHIR R4 endpoint for the resources the webhooks carry: Observation (from the reading
 * ledger, same identifiers) and Task (alert episodes). Same authorization as the API.
 */
export function registerFhirRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/fhir/Observation',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Observation search (patient required; code, date ge/le, _count)',
        querystring: z.object({
          patient: z
            .string()
            .transform((s) => s.replace(/^Patient\//, ''))
            .pipe(patientIdSchema),
          code: z.string().optional(),
          date: z.union([z.string(), z.array(z.string())]).optional(),
          _count: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query;
      await requirePatient(ctx.pool, p, 'readings.read', q.patient);
      const params: unknown[] = [q.patient];
      const where = ['patient_id = $1'];
      if (q.code) {
        const metrics = metricsForCode(q.code);
        if (metrics.length === 0) throw new ApiError('INVALID_REQUEST', `unsupported code ${q.code}`);
        where.push(`metric = ANY($${params.push(metrics)}::text[])`);
      }
      for (const d of q.date === undefined ? [] : Array.isArray(q.date) ? q.date : [q.date]) {
        const m = /^(ge|le|gt|lt)?(.+)$/.exec(d);
        const t = new Date(m?.[2] ?? '');
        if (!m || Number.isNaN(t.getTime())) throw new ApiError('INVALID_REQUEST', `bad date ${d}`);
        const prefix = (m[1] ?? 'ge') as 'ge' | 'le' | 'gt' | 'lt';
        where.push(`measured_at ${{ ge: '>=', le: '<=', gt: '>', lt: '<' }[prefix]} $${params.push(t)}`);
      }
      const { rows } = await ctx.pool.query<LedgerDbRow>(
        `SELECT reading_id, patient_id, gateway_id, device_address, driver, metric, value, measured_at FROM reading_ledger
         WHERE ${where.join(' AND ')} ORDER BY measured_at DESC, metric LIMIT ${q._count}`,
        params,
      );
      const interp = await ctx.pool.query<{ i: Record<string, Interpretation> }>(
        `SELECT interpretations i FROM alert_episodes WHERE patient_id = $1`,
        [q.patient],
      );
      const interpretations: Record<string, Interpretation> = {};
      for (const r of interp.rows) Object.assign(interpretations, r.i);
      await audit(ctx.pool, {
        actor: p.id,
        action: 'readings.viewed',
        entity: 'patient',
        entityId: q.patient,
        detail: { via: 'fhir', count: rows.length },
        at: ctx.clock.now(),
      });
      return reply
        .type('application/fhir+json')
        .send(searchset(`${req.protocol}://${req.host}/fhir`, toObservations(rows.map(ledgerRow), interpretations)));
    },
  );

  app.get(
    '/fhir/Task',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Task search: the alert episodes in my scope (patient, status)',
        querystring: z.object({
          patient: z
            .string()
            .transform((s) => s.replace(/^Patient\//, ''))
            .pipe(patientIdSchema)
            .optional(),
          status: z.enum(['requested', 'accepted', 'in-progress', 'completed']).optional(),
          _count: z.coerce.number().int().min(1).max(1000).default(100),
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
      const { rows } = await ctx.pool.query<EpisodeDbRow>(
        `SELECT ${EPISODE_COLUMNS} FROM alert_episodes e WHERE ${where.join(' AND ')} ORDER BY e.opened_at DESC LIMIT ${q._count}`,
        params,
      );
      const tasks = [];
      for (const r of rows) {
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
          ),
        );
      }
      return reply.type('application/fhir+json').send(searchset(`${req.protocol}://${req.host}/fhir`, tasks));
    },
  );
}
