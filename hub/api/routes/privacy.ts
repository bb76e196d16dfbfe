import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import {
  erasePatient,
  ExportError,
  exportPatient,
  resumeProcessing,
  withdrawProcessing,
} from '../../admin/patient-rights';
import type { MessageStore } from '../../messaging/store';
import { requirePatient } from '../authz';
import { bearer, errorSchema, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';

/**
 * The patient's rights through the API (docs/privacy.md "Rights"). Withdrawal and its reversal
 * are recorded by whoever records consents (enrollment.write on the patient); export and erasure
 * are the data controller's acts, done by an admin (the privacy officer's role) on the patient's
 * request, and audited like every access.
 */
const params = z.object({ id: patientIdSchema });
const processingSchema = z.object({ patientId: z.string(), processing: z.enum(['stopped', 'active']) });

function requireAdmin(role: string, what: string): void {
  if (role !== 'admin') throw new ApiError('FORBIDDEN', `only an admin (privacy officer) may ${what}`);
}

export function registerPrivacyRoutes(
  app: ZApp,
  ctx: ApiContext,
  /** the patient's messages, decrypted (null when the hub has no message keys) */
  messages: Pick<MessageStore, 'exportForPatient'> | null = null,
): void {
  app.post(
    '/api/patients/:id/processing/withdraw',
    {
      schema: {
        tags: ['privacy'],
        security: bearer,
        summary:
          'Record that the patient withdrew consent to telemonitoring: from the next reading nothing is filed, evaluated, notified or sent',
        params,
        response: { 200: processingSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      if (!(await withdrawProcessing(ctx.pool, req.params.id, p.id)))
        throw new ApiError('NOT_FOUND', 'no such patient');
      return { patientId: req.params.id, processing: 'stopped' as const };
    },
  );

  app.post(
    '/api/patients/:id/processing/resume',
    {
      schema: {
        tags: ['privacy'],
        security: bearer,
        summary:
          'Record that the patient consents again: readings are filed from the next one (nothing is back-filled)',
        params,
        response: { 200: processingSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      if (!(await resumeProcessing(ctx.pool, req.params.id, p.id))) throw new ApiError('NOT_FOUND', 'no such patient');
      return { patientId: req.params.id, processing: 'active' as const };
    },
  );

  app.get(
    '/api/patients/:id/export',
    {
      schema: {
        tags: ['privacy'],
        security: bearer,
        summary: "The patient's whole record as a FHIR R4 Bundle (GDPR art. 15 and 20)",
        params,
        response: { 200: z.looseObject({ resourceType: z.literal('Bundle') }), 403: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireAdmin(p.role, 'export a patient record');
      const bundle = await exportPatient(ctx.pool, req.params.id, p.id, {
        messages: messages ? (id) => messages.exportForPatient(id) : undefined,
      }).catch((e: unknown) => {
        if (e instanceof ExportError) throw new ApiError('CONFLICT', e.message);
        throw e;
      });
      if (!bundle) throw new ApiError('NOT_FOUND', 'no such patient');
      return reply.type('application/fhir+json').send({ ...bundle });
    },
  );

  app.post(
    '/api/patients/:id/erasure',
    {
      schema: {
        tags: ['privacy'],
        security: bearer,
        summary:
          'Erase the patient from PostgreSQL and InfluxDB (GDPR art. 17); the audit trails keep a pseudonym. Irreversible: the body repeats the id',
        params,
        body: z.object({ confirm: patientIdSchema }).strict(),
        response: {
          200: z.object({
            pseudonym: z.string(),
            postgres: z.record(z.string(), z.number()),
            influxSeriesDropped: z.boolean(),
          }),
          403: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireAdmin(p.role, 'erase a patient');
      if (req.body.confirm !== req.params.id)
        throw new ApiError('INVALID_REQUEST', 'confirm must repeat the patient id');
      const r = await erasePatient(ctx.pool, ctx.timeseries.influx, ctx.timeseries.database, req.params.id, p.id);
      if (!r) throw new ApiError('NOT_FOUND', 'no such patient');
      // the access log row of this very request must not bring the id back
      req.auditPatientId = r.pseudonym;
      return r;
    },
  );
}
