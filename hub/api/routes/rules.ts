import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import { programIdSchema } from '../../programs/definition';
import { RuleSettingError } from '../../rules/settings';
import { requireCap, requirePatient } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';

const settingError = (e: unknown): never => {
  if (e instanceof RuleSettingError)
    throw new ApiError(e.code === 'UNKNOWN_RULE' ? 'NOT_FOUND' : 'INVALID_REQUEST', `${e.code}: ${e.message}`);
  throw e;
};

export function registerRuleRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/api/rules',
    {
      schema: {
        tags: ['rules'],
        security: bearer,
        summary: 'The rule catalog with sources and default parameters',
        response: {
          200: z.object({
            rules: z.array(
              z.object({
                id: z.string(),
                title: z.string(),
                kind: z.string(),
                source: z.string(),
                programs: z.union([z.literal('all'), z.array(z.string())]),
                defaults: z.record(z.string(), z.unknown()),
                notify: z.array(z.string()),
              }),
            ),
          }),
        },
      },
    },
    (req) => {
      who(req);
      return {
        rules: ctx.settings.rules.map((r) => ({
          id: r.id,
          title: r.title,
          kind: r.kind,
          source: r.source,
          programs: r.programs === 'all' ? ('all' as const) : [...r.programs],
          defaults: r.params.parse({}),
          notify: [...r.notify],
        })),
      };
    },
  );

  const effectiveSchema = z.object({
    ruleId: z.string(),
    title: z.string(),
    kind: z.string(),
    source: z.string(),
    enabled: z.boolean(),
    params: z.record(z.string(), z.unknown()),
    override: z.unknown(),
  });

  app.get(
    '/api/patients/:id/rules',
    {
      schema: {
        tags: ['rules'],
        security: bearer,
        summary: "The patient's rules with effective parameters",
        params: z.object({ id: patientIdSchema }),
        response: { 200: z.object({ rules: z.array(effectiveSchema) }) },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'rules.read', req.params.id);
      return { rules: await ctx.settings.describe(req.params.id) };
    },
  );

  app.put(
    '/api/patients/:id/rules/:ruleId',
    {
      schema: {
        tags: ['rules'],
        security: bearer,
        summary:
          'Set (or clear, with empty params and enabled null) a per-patient override; recorded with who, when, old, new, reason',
        params: z.object({ id: patientIdSchema, ruleId: z.string() }),
        body: z.object({
          enabled: z.boolean().nullable().optional(),
          params: z.record(z.string(), z.unknown()).default({}),
          reason: z.string().min(3).max(500),
        }),
        response: { 200: z.object({ rules: z.array(effectiveSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'rules.override', req.params.id);
      await ctx.settings
        .setOverride(
          {
            patientId: req.params.id,
            ruleId: req.params.ruleId,
            ...(req.body.enabled !== undefined ? { enabled: req.body.enabled } : {}),
            params: req.body.params,
            actor: p.id,
            reason: req.body.reason,
          },
          ctx.clock.now(),
        )
        .catch(settingError);
      return { rules: await ctx.settings.describe(req.params.id) };
    },
  );

  app.get(
    '/api/patients/:id/rules/changes',
    {
      schema: {
        tags: ['rules'],
        security: bearer,
        params: z.object({ id: patientIdSchema }),
        response: {
          200: z.object({
            changes: z.array(
              z.object({
                ruleId: z.string(),
                actor: z.string(),
                at: z.string(),
                oldValue: z.unknown(),
                newValue: z.unknown(),
                reason: z.string(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'rules.read', req.params.id);
      return { changes: await ctx.settings.history(req.params.id) };
    },
  );

  app.put(
    '/api/programs/:programId/rules/:ruleId',
    {
      schema: {
        tags: ['rules'],
        security: bearer,
        summary: 'Program-wide rule setting',
        params: z.object({ programId: programIdSchema, ruleId: z.string() }),
        body: z.object({
          enabled: z.boolean().default(true),
          params: z.record(z.string(), z.unknown()).default({}),
          reason: z.string().min(3).max(500),
        }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'rules.program');
      await ctx.settings
        .setProgramSetting(
          {
            programId: req.params.programId as never,
            ruleId: req.params.ruleId,
            enabled: req.body.enabled,
            params: req.body.params,
            actor: p.id,
            reason: req.body.reason,
          },
          ctx.clock.now(),
        )
        .catch(settingError);
      return reply.status(204).send(null);
    },
  );
}
