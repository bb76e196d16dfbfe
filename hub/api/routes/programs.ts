import { z } from 'zod';
import { backtest, backtestRequestSchema, requestScenarios, serverOf } from '../../programs/backtest';
import { ProgramError, programDefinitionSchema, programIdSchema } from '../../programs/definition';
import { requireCap, requirePatient } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';

const params = z.object({ programId: programIdSchema });
const reason = z.string().min(3).max(500);

const versionSchema = z.object({
  programId: z.string(),
  version: z.number(),
  definition: programDefinitionSchema,
  createdBy: z.string(),
  createdAt: z.string(),
  reason: z.string(),
});

const episodeKey = z.object({
  scenario: z.string(),
  patient: z.string(),
  rule: z.string(),
  severity: z.enum(['amber', 'red']),
  openedAt: z.string(),
});

/**
 * Programs as data (docs/programs.md): create, read, list, version and retire care programs, and
 * back-test a change before applying it. Writes: admins (programs.admin); reads: admins and
 * coordinating nurses (programs.read). Every write is audited and applies to every hub at once.
 */
export function registerProgramRoutes(app: ZApp, ctx: ApiContext): void {
  const store = ctx.settings.programStore;

  app.get(
    '/api/programs',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'The programs with their current version',
        response: {
          200: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              currentVersion: z.number(),
              retiredAt: z.string().nullable(),
              patients: z.number(),
            }),
          ),
        },
      },
    },
    async (req) => {
      requireCap(who(req), 'programs.read');
      return store.list();
    },
  );

  app.post(
    '/api/programs',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'Create a program (version 1)',
        body: z.object({ definition: z.unknown(), reason }).strict(),
        response: { 201: versionSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'programs.admin');
      return reply.status(201).send(await store.create(req.body.definition, p.id, req.body.reason, ctx.clock.now()));
    },
  );

  app.get(
    '/api/programs/:programId',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'A program: its current version, or the version asked',
        params,
        querystring: z.object({ version: z.coerce.number().int().positive().optional() }),
        response: { 200: versionSchema.extend({ retiredAt: z.string().nullable(), current: z.number() }) },
      },
    },
    async (req) => {
      requireCap(who(req), 'programs.read');
      return store.get(req.params.programId, req.query.version);
    },
  );

  app.get(
    '/api/programs/:programId/versions',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'Every version of a program, newest first',
        params,
        response: { 200: z.array(versionSchema.omit({ definition: true })) },
      },
    },
    async (req) => {
      requireCap(who(req), 'programs.read');
      return store.versions(req.params.programId);
    },
  );

  app.put(
    '/api/programs/:programId',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'A new version of the program (the patients enrolled so far move to it; history kept)',
        params,
        body: z
          .object({
            definition: z.unknown(),
            reason,
            /** the version the change was made from: PROGRAM_VERSION_CONFLICT when another change came first */
            basedOn: z.number().int().positive().optional(),
          })
          .strict(),
        response: { 200: versionSchema },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'programs.admin');
      return store.update(
        req.params.programId,
        req.body.definition,
        p.id,
        req.body.reason,
        ctx.clock.now(),
        req.body.basedOn,
      );
    },
  );

  app.post(
    '/api/programs/:programId/retire',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary: 'Retire a program: no new enrollment; its patients stay followed',
        params,
        body: z.object({ reason }).strict(),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'programs.admin');
      await store.retire(req.params.programId, p.id, req.body.reason, ctx.clock.now());
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/programs/:programId/backtest',
    {
      schema: {
        tags: ['programs'],
        security: bearer,
        summary:
          'Replay scenarios or a patient’s recent readings under the current and the proposed definition, and compare the episodes',
        params,
        body: backtestRequestSchema,
        response: {
          200: z.object({
            programId: z.string(),
            currentVersion: z.number().nullable(),
            scenarios: z.array(
              z.object({
                name: z.string(),
                current: z.array(episodeKey),
                proposed: z.array(episodeKey),
                added: z.array(episodeKey),
                removed: z.array(episodeKey),
              }),
            ),
            totals: z.object({ current: z.number(), proposed: z.number(), added: z.number(), removed: z.number() }),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      // a back-test changes nothing: the program's readers may run it
      requireCap(p, 'programs.read');
      const id = req.params.programId;
      // a patient's readings and the episodes they would open are clinical data: her care team only, with consent
      if (req.body.patientId) {
        await requirePatient(ctx.pool, p, 'alerts.read', req.body.patientId);
        req.auditPatientId = req.body.patientId;
      }
      const current = await store.get(id).catch((e: unknown) => {
        if (e instanceof ProgramError && e.code === 'PROGRAM_NOT_FOUND') return null;
        throw e;
      });
      const proposedInput = req.body.definition ?? current?.definition;
      if (proposedInput === undefined) throw new ProgramError('PROGRAM_NOT_FOUND', `no program ${id}`);
      const proposed = store.validate(proposedInput);
      if (proposed.id !== id)
        throw new ProgramError('PROGRAM_INVALID', `the definition's id ${proposed.id} is not ${id}`);
      const now = ctx.clock.now();
      const scenarios = await requestScenarios(ctx.pool, req.body, id, now);
      return backtest({
        pgBase: serverOf(ctx.pool),
        programId: id,
        current: current && { version: current.version, definition: current.definition },
        proposed,
        scenarios,
      });
    },
  );
}
