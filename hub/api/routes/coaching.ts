import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import { audit } from '../../alerts/audit';
import {
  callById,
  callSchema,
  CALL_CHANNELS,
  coachAgenda,
  completeCall,
  listCalls,
  scheduleCall,
} from '../../coaching/calls';
import { closeGoal, createGoal, currentValue, GOAL_KINDS, goalSchema, listGoals } from '../../coaching/goals';
import { COACH_ROLES, requireCap, requirePatient, type Role } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';

const idParams = z.object({ id: patientIdSchema });
const numericId = z.object({ id: z.coerce.number().int().positive() });
/** who may be given a call: the coaching team, and the coordinating nurse */
const CALLERS: readonly Role[] = ['coordinating_nurse', ...COACH_ROLES];

/**
 * Coaching (cardiovascular prevention): goals agreed with the participant and their progress,
 * coaching calls and their notes. Same scope as clinical data: care team and the patient's consent.
 */
export function registerCoachingRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/api/patients/:id/coaching',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: "The participant's coaching plan: goals with their progress over the last 7 days, and calls",
        params: idParams,
        response: { 200: z.object({ goals: z.array(goalSchema), calls: z.array(callSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'coaching.read', req.params.id);
      const now = ctx.clock.now();
      await audit(ctx.pool, {
        actor: p.id,
        action: 'coaching.viewed',
        entity: 'patient',
        entityId: req.params.id,
        at: now,
      });
      return { goals: await listGoals(ctx.pool, req.params.id, now), calls: await listCalls(ctx.pool, req.params.id) };
    },
  );

  app.post(
    '/api/patients/:id/coaching/goals',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: 'Set a goal with the participant (baseline: the last 7 days when not given)',
        params: idParams,
        body: z.object({
          kind: z.enum(GOAL_KINDS),
          baseline: z.number().optional(),
          target: z.number(),
          dueOn: z.iso.date(),
          note: z.string().max(1000).optional(),
        }),
        response: { 201: goalSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'coaching.write', req.params.id);
      const now = ctx.clock.now();
      const b = req.body;
      if (Date.parse(`${b.dueOn}T23:59:59Z`) <= now.getTime())
        throw new ApiError('INVALID_REQUEST', 'dueOn must be in the future');
      const baseline = b.baseline ?? (await currentValue(ctx.pool, req.params.id, b.kind, now));
      if (baseline === null)
        throw new ApiError('INVALID_REQUEST', 'NO_BASELINE: nothing measured in the last 7 days; give the baseline');
      if (baseline === b.target) throw new ApiError('INVALID_REQUEST', 'the target equals the baseline');
      const id = await createGoal(ctx.pool, { ...b, patientId: req.params.id, baseline }, p.id, now);
      await audit(ctx.pool, {
        actor: p.id,
        action: 'coaching.goal_set',
        entity: 'patient',
        entityId: req.params.id,
        detail: { goalId: id, kind: b.kind, baseline, target: b.target, dueOn: b.dueOn },
        at: now,
      });
      const goal = (await listGoals(ctx.pool, req.params.id, now)).find((g) => g.id === id);
      if (!goal) throw new ApiError('INTERNAL', 'the goal just set was not found');
      return reply.status(201).send(goal);
    },
  );

  app.post(
    '/api/coaching/goals/:id/close',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: 'Close an active goal: achieved or stopped',
        params: numericId,
        body: z.object({ status: z.enum(['achieved', 'stopped']) }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'coaching.write');
      const { rows } = await ctx.pool.query<{ patient_id: string }>(
        'SELECT patient_id FROM coaching_goals WHERE id = $1',
        [req.params.id],
      );
      if (!rows[0]) throw new ApiError('NOT_FOUND', 'no such goal');
      await requirePatient(ctx.pool, p, 'coaching.write', rows[0].patient_id);
      const now = ctx.clock.now();
      if (!(await closeGoal(ctx.pool, req.params.id, req.body.status, now)))
        throw new ApiError('CONFLICT', 'the goal is already closed');
      await audit(ctx.pool, {
        actor: p.id,
        action: 'coaching.goal_closed',
        entity: 'patient',
        entityId: rows[0].patient_id,
        detail: { goalId: req.params.id, status: req.body.status },
        at: now,
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/patients/:id/coaching/calls',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: 'Schedule a coaching call (for oneself, or for a member of the coaching team)',
        params: idParams,
        body: z.object({
          scheduledAt: z.iso.datetime(),
          channel: z.enum(CALL_CHANNELS).default('phone'),
          coachId: z.string().min(1).optional(),
        }),
        response: { 201: callSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'coaching.write', req.params.id);
      const coachId = req.body.coachId ?? p.id;
      // the call goes to a member of this participant's care team who coaches
      const member = await ctx.pool.query(
        `SELECT 1 FROM care_team_members m JOIN care_team_patients c ON c.care_team_id = m.care_team_id
         WHERE c.patient_id = $1 AND m.professional_id = $2
           AND (m.role = ANY($3::text[])
                -- or a coaching role the participant's program defines (docs/programs.md)
                OR EXISTS (SELECT 1 FROM patients pt JOIN program_role_grants g ON g.program_id = pt.program_id
                           WHERE pt.id = c.patient_id AND g.role = m.role AND g.capability = 'coaching.write'))`,
        [req.params.id, coachId, CALLERS],
      );
      if (!member.rowCount)
        throw new ApiError('INVALID_REQUEST', "the coach is not a coaching member of the participant's care team");
      const call = await scheduleCall(
        ctx.pool,
        { patientId: req.params.id, coachId, channel: req.body.channel, scheduledAt: new Date(req.body.scheduledAt) },
        p.id,
      );
      await audit(ctx.pool, {
        actor: p.id,
        action: 'coaching.call_scheduled',
        entity: 'patient',
        entityId: req.params.id,
        detail: { callId: call.id, coachId },
        at: ctx.clock.now(),
      });
      return reply.status(201).send(call);
    },
  );

  app.post(
    '/api/coaching/calls/:id/complete',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: 'Record how a scheduled call went, with its note and what the participant reported',
        params: numericId,
        body: z.object({
          status: z.enum(['done', 'missed', 'cancelled']),
          note: z.string().max(5000).optional(),
          reported: callSchema.shape.reported.optional(),
        }),
        response: { 200: callSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'coaching.write');
      const call = await callById(ctx.pool, req.params.id);
      if (!call) throw new ApiError('NOT_FOUND', 'no such call');
      await requirePatient(ctx.pool, p, 'coaching.write', call.patientId);
      const now = ctx.clock.now();
      const done = await completeCall(ctx.pool, req.params.id, req.body, now);
      if (!done) throw new ApiError('CONFLICT', 'the call is no longer scheduled');
      await audit(ctx.pool, {
        actor: p.id,
        action: 'coaching.call_completed',
        entity: 'patient',
        entityId: call.patientId,
        detail: { callId: call.id, status: req.body.status },
        at: now,
      });
      return reply.status(200).send(done);
    },
  );

  app.get(
    '/api/coaching/calls',
    {
      schema: {
        tags: ['coaching'],
        security: bearer,
        summary: 'My agenda: my coaching calls between two instants (default: the next 7 days)',
        querystring: z.object({ from: z.iso.datetime().optional(), to: z.iso.datetime().optional() }),
        response: { 200: z.object({ calls: z.array(callSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'coaching.write');
      const now = ctx.clock.now();
      const from = req.query.from ? new Date(req.query.from) : now;
      const to = req.query.to ? new Date(req.query.to) : new Date(from.getTime() + 7 * 86_400_000);
      return { calls: await coachAgenda(ctx.pool, p.id, from, to) };
    },
  );
}
