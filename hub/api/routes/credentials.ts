import { z } from 'zod';
import { gatewayIdSchema } from '../../../contract';
import { renewProfessionalToken, revokeGateway, revokeProfessional } from '../../admin/provisioning';
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
          .object({ validDays: z.number().int().min(1).max(365).optional() })
          .strict()
          .optional(),
        response: { 201: z.object({ token: z.string(), expiresAt: z.string() }), 404: errorSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireAdmin(p.role);
      const r = await renewProfessionalToken(
        ctx.pool,
        req.params.id,
        req.body?.validDays ? { tokenTtlDays: req.body.validDays } : {},
        p.id,
      );
      if (!r) throw new ApiError('NOT_FOUND', 'no such professional, or revoked');
      return reply.status(201).send(r);
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
