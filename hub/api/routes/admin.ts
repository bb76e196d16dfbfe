import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import { addCareTeamMember, createCareTeam, createWebhook } from '../../admin/provisioning';
import { audit } from '../../alerts/audit';
import { assignQuarantinedReading } from '../../ingest/quarantine-assign';
import { programIdSchema, roleIdSchema } from '../../programs/definition';
import { requireCap, requirePatient, type Professional } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';
import { errorCode, errorMessage } from '../../../contract/errors';

/** Quarantined readings a professional may see: all for the admin; the coordinating nurse those from gateways of her programs' patients. */
function quarantineScope(p: Professional): string {
  if (p.role === 'admin') return 'true';
  return `q.gateway_id IN (SELECT g.id FROM gateways g JOIN patients pp ON pp.id = g.patient_id JOIN care_teams t ON t.program_id = pp.program_id
                           JOIN care_team_members m ON m.care_team_id = t.id WHERE m.professional_id = $1)`;
}

/** webhook_deliveries (005) with its attempts aggregated as JSON; bigint ids arrive as strings */
interface DeliveryRow {
  id: string;
  webhook_id: string;
  notification_id: string;
  idempotency_key: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  delivered_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  log: { attempt: number; at: string; httpStatus: number | null; error: string | null; durationMs: number }[];
}

/** quarantined_readings (001) */
interface QuarantinedRow {
  reading_id: string;
  gateway_id: string;
  device_address: string;
  driver: string;
  user_index: number | null;
  metric: string;
  reading: { measuredAt?: string; value?: number };
  reason: string;
  received_at: Date;
}

/** audit_log (001) */
interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  entity: string;
  entity_id: string | null;
  detail: unknown;
}

export function registerAdminRoutes(app: ZApp, ctx: ApiContext): void {
  app.post(
    '/api/care-teams',
    {
      schema: {
        tags: ['care teams'],
        security: bearer,
        body: z.object({
          id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/),
          programId: programIdSchema,
          name: z.string().min(1).max(200),
        }),
        response: { 201: z.object({ id: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'careteams.admin');
      const prog = await ctx.pool.query('SELECT 1 FROM programs WHERE id = $1 AND retired_at IS NULL', [
        req.body.programId,
      ]);
      if (!prog.rowCount) throw new ApiError('PROGRAM_NOT_FOUND', 'no such program (or it is retired)');
      await createCareTeam(ctx.pool, { id: req.body.id, programId: req.body.programId, name: req.body.name }, p.id);
      return reply.status(201).send({ id: req.body.id });
    },
  );

  app.post(
    '/api/care-teams/:id/members',
    {
      schema: {
        tags: ['care teams'],
        security: bearer,
        params: z.object({ id: z.string() }),
        body: z.object({
          professionalId: z.string().min(1),
          /** a built-in care role, or a role the team's program defines (docs/programs.md) */
          role: roleIdSchema.optional(),
        }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'careteams.admin');
      const [team, prof] = await Promise.all([
        ctx.pool.query('SELECT 1 FROM care_teams WHERE id = $1', [req.params.id]),
        ctx.pool.query('SELECT 1 FROM professionals WHERE id = $1', [req.body.professionalId]),
      ]);
      if (!team.rowCount || !prof.rowCount) throw new ApiError('NOT_FOUND', 'no such care team or professional');
      await addCareTeamMember(
        ctx.pool,
        {
          careTeamId: req.params.id,
          professionalId: req.body.professionalId,
          ...(req.body.role ? { role: req.body.role } : {}),
        },
        p.id,
      ).catch((e: unknown) => {
        throw errorCode(e) === 'INVALID_ROLE' ? new ApiError('INVALID_REQUEST', errorMessage(e)) : e;
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/care-teams/:id/webhooks',
    {
      schema: {
        tags: ['care teams'],
        security: bearer,
        summary:
          "Register a care team's webhook (FHIR R4 transaction bundles, HMAC-SHA256 signed); the secret is shown once",
        params: z.object({ id: z.string() }),
        body: z.object({ url: z.url() }),
        response: { 201: z.object({ id: z.number(), secret: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'careteams.admin');
      const team = await ctx.pool.query('SELECT 1 FROM care_teams WHERE id = $1', [req.params.id]);
      if (!team.rowCount) throw new ApiError('NOT_FOUND', 'no such care team');
      return reply
        .status(201)
        .send(
          await createWebhook(
            ctx.pool,
            { careTeamId: req.params.id, url: req.body.url, profile: ctx.egressProfile, secretKey: ctx.secretKey },
            p.id,
          ),
        );
    },
  );

  app.get(
    '/api/care-teams/:id/deliveries',
    {
      schema: {
        tags: ['care teams'],
        security: bearer,
        summary: 'Webhook delivery log with every attempt',
        params: z.object({ id: z.string() }),
        response: {
          200: z.object({
            deliveries: z.array(
              z.object({
                id: z.number(),
                webhookId: z.number(),
                notificationId: z.number(),
                idempotencyKey: z.string(),
                status: z.string(),
                attempts: z.number(),
                nextAttemptAt: z.string(),
                deliveredAt: z.string().nullable(),
                lastStatus: z.number().nullable(),
                lastError: z.string().nullable(),
                log: z.array(
                  z.object({
                    attempt: z.number(),
                    at: z.string(),
                    httpStatus: z.number().nullable(),
                    error: z.string().nullable(),
                    durationMs: z.number(),
                  }),
                ),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'deliveries.read');
      if (p.role !== 'admin') {
        const member = await ctx.pool.query(
          'SELECT 1 FROM care_team_members WHERE care_team_id = $1 AND professional_id = $2',
          [req.params.id, p.id],
        );
        if (!member.rowCount) throw new ApiError('FORBIDDEN', 'not a member of this care team');
      }
      const { rows } = await ctx.pool.query<DeliveryRow>(
        `SELECT d.*, coalesce(json_agg(json_build_object('attempt', a.attempt, 'at', a.at, 'httpStatus', a.http_status, 'error', a.error, 'durationMs', a.duration_ms) ORDER BY a.attempt)
                  FILTER (WHERE a.id IS NOT NULL), '[]') AS log
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN webhook_delivery_attempts a ON a.delivery_id = d.id
         WHERE w.care_team_id = $1 GROUP BY d.id ORDER BY d.id DESC LIMIT 500`,
        [req.params.id],
      );
      return {
        deliveries: rows.map((d) => ({
          id: Number(d.id),
          webhookId: Number(d.webhook_id),
          notificationId: Number(d.notification_id),
          idempotencyKey: d.idempotency_key,
          status: d.status,
          attempts: d.attempts,
          nextAttemptAt: d.next_attempt_at.toISOString(),
          deliveredAt: d.delivered_at?.toISOString() ?? null,
          lastStatus: d.last_status,
          lastError: d.last_error,
          log: d.log.map((l) => ({ ...l, at: new Date(l.at).toISOString() })),
        })),
      };
    },
  );

  const quarantinedSchema = z.object({
    readingId: z.string(),
    gatewayId: z.string(),
    deviceAddress: z.string(),
    driver: z.string(),
    userIndex: z.number().nullable(),
    metric: z.string(),
    reason: z.string(),
    receivedAt: z.string(),
    measuredAt: z.string().nullable(),
    value: z.number().nullable(),
  });

  app.get(
    '/api/quarantine',
    {
      schema: {
        tags: ['quarantine'],
        security: bearer,
        summary: 'Readings of unknown devices/users, not yet assigned',
        response: { 200: z.object({ readings: z.array(quarantinedSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'quarantine');
      const { rows } = await ctx.pool.query<QuarantinedRow>(
        `SELECT q.* FROM quarantined_readings q WHERE q.assigned_patient_id IS NULL AND ${quarantineScope(p)} ORDER BY q.received_at LIMIT 1000`,
        p.role === 'admin' ? [] : [p.id],
      );
      return {
        readings: rows.map((q) => ({
          readingId: q.reading_id,
          gatewayId: q.gateway_id,
          deviceAddress: q.device_address,
          driver: q.driver,
          userIndex: q.user_index,
          metric: q.metric,
          reason: q.reason,
          receivedAt: q.received_at.toISOString(),
          measuredAt: q.reading.measuredAt ?? null,
          value: q.reading.value ?? null,
        })),
      };
    },
  );

  app.post(
    '/api/quarantine/:readingId/assign',
    {
      schema: {
        tags: ['quarantine'],
        security: bearer,
        summary: "Assign a quarantined reading to a patient: it is filed into the patient's series and evaluated",
        params: z.object({ readingId: z.string().regex(/^[0-9a-f]{32}$/) }),
        body: z.object({ patientId: patientIdSchema }),
        response: {
          200: z.object({ readingId: z.string(), patientId: z.string(), outcome: z.enum(['stored', 'duplicate']) }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'quarantine');
      const visible = await ctx.pool.query(
        `SELECT 1 FROM quarantined_readings q WHERE q.reading_id = $${p.role === 'admin' ? 1 : 2} AND ${quarantineScope(p)}`,
        p.role === 'admin' ? [req.params.readingId] : [p.id, req.params.readingId],
      );
      if (!visible.rowCount) throw new ApiError('NOT_FOUND', 'no such quarantined reading in your scope');
      await requirePatient(ctx.pool, p, 'enrollment.write', req.body.patientId);
      const now = ctx.clock.now();
      const res = await assignQuarantinedReading(
        { pool: ctx.pool, timeseries: ctx.timeseries, rules: ctx.rules },
        req.params.readingId,
        req.body.patientId,
        now,
      );
      if (!res.ok)
        throw new ApiError(
          res.code === 'NOT_FOUND' ? 'NOT_FOUND' : res.code === 'ALREADY_ASSIGNED' ? 'CONFLICT' : 'INVALID_REQUEST',
          res.code,
        );
      await audit(ctx.pool, {
        actor: p.id,
        action: 'quarantine.assigned',
        entity: 'reading',
        entityId: req.params.readingId,
        detail: { patientId: req.body.patientId, outcome: res.outcome },
        at: now,
      });
      return { readingId: req.params.readingId, patientId: req.body.patientId, outcome: res.outcome };
    },
  );

  app.get(
    '/api/audit',
    {
      schema: {
        tags: ['audit'],
        security: bearer,
        querystring: z.object({
          entity: z.string().optional(),
          entityId: z.string().optional(),
          actor: z.string().optional(),
          action: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(5000).default(500),
        }),
        response: {
          200: z.object({
            entries: z.array(
              z.object({
                id: z.number(),
                at: z.string(),
                actor: z.string(),
                action: z.string(),
                entity: z.string(),
                entityId: z.string().nullable(),
                detail: z.unknown(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'audit.read');
      const params: unknown[] = [];
      const where: string[] = ['true'];
      for (const [k, col] of [
        ['entity', 'entity'],
        ['entityId', 'entity_id'],
        ['actor', 'actor'],
        ['action', 'action'],
      ] as const) {
        const v = req.query[k];
        if (v !== undefined) where.push(`${col} = $${params.push(v)}`);
      }
      const { rows } = await ctx.pool.query<AuditRow>(
        `SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${req.query.limit}`,
        params,
      );
      return {
        entries: rows.map((r) => ({
          id: Number(r.id),
          at: r.at.toISOString(),
          actor: r.actor,
          action: r.action,
          entity: r.entity,
          entityId: r.entity_id,
          detail: r.detail,
        })),
      };
    },
  );
}
