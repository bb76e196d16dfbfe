import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import { TransitionError, type EpisodeStore } from '../../alerts/episode-store';
import { createSilence, listSilences } from '../../alerts/silences';
import { audit } from '../../alerts/audit';
import { episodeRow, episodeColumns, type EpisodeDbRow, type FullEpisodeRow } from '../../fhir/load';
import { patientScopeSql, PHARMACIST_RULES, requireCap, requirePatient, type Professional } from '../authz';
import { bearer, episodeJson, episodeSchema, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';

const SILENCED = `EXISTS (SELECT 1 FROM alert_silences s WHERE s.patient_id = e.patient_id AND (s.rule_id IS NULL OR s.rule_id = e.rule_id)
                    AND s.starts_at <= $2 AND s.ends_at > $2 AND s.cancelled_at IS NULL) AS silenced`;

/** Episodes visible to the professional (scope + consent; the pharmacist: treatment rules only). */
export function episodeVisibilitySql(p: Professional, alias = 'e', param = '$1'): string {
  const scope = patientScopeSql(p, `${alias}.patient_id`, param, true, 'alerts.read');
  const rules =
    p.role === 'pharmacist'
      ? ` AND ${alias}.rule_id IN (${[...PHARMACIST_RULES].map((r) => `'${r.replace(/'/g, "''")}'`).join(', ')})`
      : '';
  return `${scope}${rules}`;
}

type ListedEpisodeRow = EpisodeDbRow & { silenced: boolean };

/** remeasure_requests (004) */
interface PendingConfirmationRow {
  id: string;
  patient_id: string;
  rule_id: string;
  requested_at: Date;
  expires_at: Date;
  value: unknown;
}

async function visibleEpisode(
  ctx: ApiContext,
  p: Professional,
  id: number,
): Promise<{ ep: FullEpisodeRow; silenced: boolean }> {
  const { rows } = await ctx.pool.query<ListedEpisodeRow & { visible: boolean; member: boolean }>(
    `SELECT ${episodeColumns('e')}, ${SILENCED}, ${episodeVisibilitySql(p)} AS visible,
            ${patientScopeSql(p, 'e.patient_id', '$1', false)} AS member
     FROM alert_episodes e WHERE id = $3`,
    [p.id, ctx.clock.now(), id],
  );
  const row = rows[0];
  // outside one's care teams an episode is as unknown as a missing one (no existence oracle)
  if (!row?.member) throw new ApiError('NOT_FOUND', 'no such episode in your scope');
  if (!row.visible) throw new ApiError('FORBIDDEN', 'episode not visible to your role or consent');
  return { ep: episodeRow(row), silenced: row.silenced };
}

/** An episode is assigned only to a member of one of its patient's care teams. */
async function requireTeamMember(ctx: ApiContext, episodeId: number, assignee: string): Promise<void> {
  const { rowCount } = await ctx.pool.query(
    `SELECT 1 FROM alert_episodes e
       JOIN care_team_patients ctp ON ctp.patient_id = e.patient_id
       JOIN care_team_members m ON m.care_team_id = ctp.care_team_id
     WHERE e.id = $1 AND m.professional_id = $2`,
    [episodeId, assignee],
  );
  if (!rowCount) throw new ApiError('INVALID_REQUEST', "the assignee is not a member of the patient's care team");
}

async function transition(
  ctx: ApiContext,
  p: Professional,
  id: number,
  f: (s: EpisodeStore) => Promise<FullEpisodeRow>,
) {
  requireCap(p, 'alerts.triage');
  await visibleEpisode(ctx, p, id);
  try {
    const ep = await f(ctx.episodes);
    return episodeJson(ep);
  } catch (e) {
    if (e instanceof TransitionError) throw new ApiError('INVALID_TRANSITION', e.message);
    throw e;
  }
}

export function registerAlertRoutes(app: ZApp, ctx: ApiContext): void {
  const idParams = z.object({ id: z.coerce.number().int().positive() });

  app.get(
    '/api/alerts',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary: 'Alert worklist: open first, red first, oldest first; plus pending "please re-measure" requests',
        querystring: z.object({
          status: z.enum(['open', 'acknowledged', 'resolved', 'active']).default('active'),
          patientId: patientIdSchema.optional(),
          severity: z.enum(['amber', 'red']).optional(),
          assignee: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
        response: {
          200: z.object({
            episodes: z.array(episodeSchema),
            pendingConfirmations: z.array(
              z.object({
                id: z.number(),
                patientId: z.string(),
                ruleId: z.string(),
                requestedAt: z.string(),
                expiresAt: z.string(),
                value: z.unknown(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'alerts.read');
      const q = req.query;
      const params: unknown[] = [p.id, ctx.clock.now()];
      const where = [episodeVisibilitySql(p)];
      if (q.status === 'active') where.push(`e.status <> 'resolved'`);
      else where.push(`e.status = $${params.push(q.status)}`);
      if (q.patientId) where.push(`e.patient_id = $${params.push(q.patientId)}`);
      if (q.severity) where.push(`e.severity = $${params.push(q.severity)}`);
      if (q.assignee) where.push(`e.assignee = $${params.push(q.assignee)}`);
      const { rows } = await ctx.pool.query<ListedEpisodeRow>(
        `SELECT ${episodeColumns('e')}, ${SILENCED} FROM alert_episodes e WHERE ${where.join(' AND ')}
         ORDER BY (e.status = 'open') DESC, (e.severity = 'red') DESC, e.opened_at ASC LIMIT ${q.limit}`,
        params,
      );
      const pending = await ctx.pool.query<PendingConfirmationRow>(
        `SELECT id, patient_id, rule_id, requested_at, expires_at, value FROM remeasure_requests e
         WHERE status = 'pending' AND ${episodeVisibilitySql(p)} ${q.patientId ? 'AND patient_id = $2' : ''} ORDER BY requested_at`,
        q.patientId ? [p.id, q.patientId] : [p.id],
      );
      return {
        episodes: rows.map((r) => episodeJson(episodeRow(r), r.silenced)),
        pendingConfirmations: pending.rows.map((r) => ({
          id: Number(r.id),
          patientId: r.patient_id,
          ruleId: r.rule_id,
          requestedAt: r.requested_at.toISOString(),
          expiresAt: r.expires_at.toISOString(),
          value: r.value,
        })),
      };
    },
  );

  app.get(
    '/api/alerts/:id',
    { schema: { tags: ['alerts'], security: bearer, params: idParams, response: { 200: episodeSchema } } },
    async (req) => {
      const p = who(req);
      requireCap(p, 'alerts.read');
      const { ep, silenced } = await visibleEpisode(ctx, p, req.params.id);
      return episodeJson(ep, silenced);
    },
  );

  app.post(
    '/api/alerts/:id/acknowledge',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary: 'open -> acknowledged (stops red re-notification)',
        params: idParams,
        response: { 200: episodeSchema },
      },
    },
    async (req) => {
      const p = who(req);
      return transition(ctx, p, req.params.id, (s) => s.acknowledge(req.params.id, p.id, ctx.clock.now()));
    },
  );

  app.post(
    '/api/alerts/:id/assign',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        params: idParams,
        body: z.object({ assignee: z.string().min(1) }),
        response: { 200: episodeSchema },
      },
    },
    async (req) => {
      const p = who(req);
      return transition(ctx, p, req.params.id, async (s) => {
        await requireTeamMember(ctx, req.params.id, req.body.assignee);
        return s.assign(req.params.id, req.body.assignee, p.id, ctx.clock.now());
      });
    },
  );

  app.post(
    '/api/alerts/:id/resolve',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        params: idParams,
        body: z.object({ reason: z.string().min(3).max(500) }),
        response: { 200: episodeSchema },
      },
    },
    async (req) => {
      const p = who(req);
      return transition(ctx, p, req.params.id, (s) => s.resolve(req.params.id, p.id, req.body.reason, ctx.clock.now()));
    },
  );

  const silenceSchema = z.object({
    id: z.number(),
    patientId: z.string(),
    ruleId: z.string().nullable(),
    startsAt: z.string(),
    endsAt: z.string(),
    reason: z.string(),
    createdBy: z.string(),
  });

  app.post(
    '/api/patients/:id/silences',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary: 'Silence a patient (or one rule) until a date: episodes are recorded, not notified',
        params: z.object({ id: patientIdSchema }),
        body: z.object({ until: z.iso.datetime(), ruleId: z.string().optional(), reason: z.string().min(3).max(500) }),
        response: { 201: silenceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'alerts.triage', req.params.id);
      const now = ctx.clock.now();
      const until = new Date(req.body.until);
      if (until <= now) throw new ApiError('INVALID_REQUEST', 'until must be in the future');
      const id = await createSilence(ctx.pool, {
        patientId: req.params.id,
        ruleId: req.body.ruleId ?? null,
        startsAt: now,
        endsAt: until,
        reason: req.body.reason,
        actor: p.id,
      });
      const s = (await listSilences(ctx.pool, req.params.id, now)).find((x) => x.id === id);
      if (!s) throw new Error(`silence ${id} not listed right after its creation`);
      return reply.status(201).send(s);
    },
  );

  app.get(
    '/api/patients/:id/silences',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        params: z.object({ id: patientIdSchema }),
        response: { 200: z.object({ silences: z.array(silenceSchema) }) },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'alerts.read', req.params.id);
      return { silences: await listSilences(ctx.pool, req.params.id, ctx.clock.now()) };
    },
  );

  app.delete(
    '/api/silences/:id',
    { schema: { tags: ['alerts'], security: bearer, params: idParams, response: { 204: z.null() } } },
    async (req, reply) => {
      const p = who(req);
      const s = await ctx.pool.query<{ patient_id: string }>('SELECT patient_id FROM alert_silences WHERE id = $1', [
        req.params.id,
      ]);
      if (!s.rows[0]) throw new ApiError('NOT_FOUND', 'no such silence');
      await requirePatient(ctx.pool, p, 'alerts.triage', s.rows[0].patient_id);
      const now = ctx.clock.now();
      await ctx.pool.query('UPDATE alert_silences SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL', [
        req.params.id,
        now,
      ]);
      await audit(ctx.pool, {
        actor: p.id,
        action: 'silence.cancelled',
        entity: 'patient',
        entityId: s.rows[0].patient_id,
        detail: { silenceId: req.params.id },
        at: now,
      });
      return reply.status(204).send(null);
    },
  );
}
