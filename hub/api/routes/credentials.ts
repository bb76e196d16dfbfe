import { z } from 'zod';
import { gatewayIdSchema, patientIdSchema } from '../../../contract';
import {
  professionalTokenScopes,
  renewProfessionalToken,
  revokeGateway,
  revokeProfessional,
} from '../../admin/provisioning';
import { scopeListSchema, ScopeError } from '../../fhir/scopes';
import { bearer, errorSchema, who, type ZApp, type ApiContext } from '../context';
import { ApiError } from '../errors';

/**
 * Credential lifecycle (docs/security.md "Credentials"): an admin renews a professional's token,
 * revokes a professional, revokes a box. Same functions as the CLI (hub/cli.ts).
 */
const idParam = z.object({ id: z.string().min(1).max(128) });
const revokedSchema = z.object({ revoked: z.literal(true) });

function requireAdmin(role: string): void {
  if (role !== 'admin') throw new ApiError('FORBIDDEN', 'only an admin manages credentials');
}

export function registerCredentialRoutes(app: ZApp, ctx: ApiContext): void {
  app.post(
    '/api/professionals/:id/token',
    {
      schema: {
        tags: ['credentials'],
        security: bearer,
        summary: 'Issue a new bearer token for a professional (shown once); the previous one stops working',
        params: idParam,
        body: z
          .object({
            validDays: z.number().int().min(1).max(365).optional(),
            /** SMART scopes of the new token (docs/api.md "FHIR scopes"); none: no /fhir access */
            scopes: scopeListSchema.optional(),
            /** the patient patient/ scopes are limited to */
            patientId: patientIdSchema.optional(),
          })
          .strict()
          .optional(),
        response: {
          201: z.object({ token: z.string(), expiresAt: z.string(), scopes: z.array(z.string()) }),
          404: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireAdmin(p.role);
      const b = req.body;
      if (b?.patientId !== undefined) {
        const { rowCount } = await ctx.pool.query('SELECT 1 FROM patients WHERE id = $1', [b.patientId]);
        if (!rowCount) throw new ApiError('INVALID_REQUEST', 'INVALID_SCOPE: no such patient');
      }
      let r;
      try {
        r = await renewProfessionalToken(
          ctx.pool,
          req.params.id,
          {
            ...(b?.validDays ? { tokenTtlDays: b.validDays } : {}),
            ...(b?.scopes ? { scopes: b.scopes } : {}),
            scopePatientId: b?.patientId ?? null,
          },
          p.id,
        );
      } catch (e) {
        if (e instanceof ScopeError) throw new ApiError('INVALID_REQUEST', e.message);
        throw e;
      }
      if (!r) throw new ApiError('NOT_FOUND', 'no such professional, or revoked');
      return reply.status(201).send(r);
    },
  );

  app.get(
    '/api/professionals/:id/token',
    {
      schema: {
        tags: ['credentials'],
        security: bearer,
        summary: "A professional's current token: its SMART scopes, patient and expiry (never the token itself)",
        params: idParam,
        response: {
          200: z.object({
            scopes: z.array(z.string()),
            patientId: z.string().nullable(),
            expiresAt: z.string().nullable(),
          }),
          404: errorSchema,
        },
      },
    },
    async (req) => {
      requireAdmin(who(req).role);
      const r = await professionalTokenScopes(ctx.pool, req.params.id);
      if (!r) throw new ApiError('NOT_FOUND', 'no such professional, or revoked');
      return r;
    },
  );

  app.post(
    '/api/professionals/:id/revoke',
    {
      schema: {
        tags: ['credentials'],
        security: bearer,
        summary: 'Revoke a professional: the token stops working at once and care-team memberships end',
        params: idParam,
        response: { 200: revokedSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const p = who(req);
      requireAdmin(p.role);
      if (req.params.id === p.id) throw new ApiError('INVALID_REQUEST', 'an admin does not revoke herself');
      if (!(await revokeProfessional(ctx.pool, req.params.id, p.id)))
        throw new ApiError('NOT_FOUND', 'no such professional');
      return { revoked: true as const };
    },
  );

  app.post(
    '/api/gateways/:id/revoke',
    {
      schema: {
        tags: ['credentials'],
        security: bearer,
        summary: 'Revoke a box: its credential and open enrollment codes are cancelled, the broker disconnects it',
        params: z.object({ id: gatewayIdSchema }),
        response: { 200: revokedSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const p = who(req);
      requireAdmin(p.role);
      if (!(await revokeGateway(ctx.pool, req.params.id, p.id))) throw new ApiError('NOT_FOUND', 'no such gateway');
      return { revoked: true as const };
    },
  );
}
