import { randomInt } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { gatewayIdSchema, patientIdSchema } from '../../contract';
import { createGateway } from '../admin/provisioning';
import { hashSecret } from '../security/secrets';
import { requirePatient } from './authz';
import { bearer, who, type ApiContext, type ZApp } from './context';
import { ApiError } from './errors';
import { firstRow } from '../storage/postgres/rows';

/**
 * Plug-in onboarding (issue 4): the box is shipped with an enrollment code printed on it; the
 * hub exchanges that code ONCE for the gateway id and its MQTT credential (the patient binding
 * is the code's). Codes are stored hashed, single-use, and expire. The exchange is the only
 * unauthenticated route: the code is the secret (20 random base-32 characters, ~100 bits).
 */
const ALPHABET = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789'; // Crockford-like: no I, L, O, U

export const enrollmentCodeSchema = z
  .string()
  .regex(/^VGL(-[A-Z0-9]{5}){4}$/, 'enrollment code VGL-XXXXX-XXXXX-XXXXX-XXXXX');

export function newEnrollmentCode(): string {
  const groups = Array.from({ length: 4 }, () =>
    Array.from({ length: 5 }, () => ALPHABET[randomInt(ALPHABET.length)]).join(''),
  );
  return `VGL-${groups.join('-')}`;
}

/** Issues a code for a (new) gateway of a patient's household; returned once, stored hashed. */
export async function createEnrollmentCode(
  pool: pg.Pool,
  e: { gatewayId: string; patientId: string; validDays?: number },
  actor = 'admin',
): Promise<{ code: string; expiresAt: string }> {
  gatewayIdSchema.parse(e.gatewayId);
  patientIdSchema.parse(e.patientId);
  const code = newEnrollmentCode();
  const inserted = await pool.query<{ expires_at: Date }>(
    `INSERT INTO enrollment_codes (code_hash, gateway_id, patient_id, expires_at) VALUES ($1, $2, $3, now() + make_interval(days => $4)) RETURNING expires_at`,
    [hashSecret(code), e.gatewayId, e.patientId, e.validDays ?? 90],
  );
  await pool.query('INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5)', [
    actor,
    'gateway.enrollment_code_issued',
    'gateway',
    e.gatewayId,
    {},
  ]);
  return { code, expiresAt: firstRow(inserted, 'INSERT INTO enrollment_codes').expires_at.toISOString() };
}

/** Exchanges a code: marks it used and issues the gateway's credential; undefined when unknown, used or expired. */
export async function exchangeEnrollmentCode(
  pool: pg.Pool,
  code: string,
): Promise<{ gatewayId: string; password: string } | undefined> {
  const { rows } = await pool.query<{ gateway_id: string; patient_id: string }>(
    // a cancelled code, or any code of a revoked box, never revives it (docs/security.md "Credentials")
    `UPDATE enrollment_codes c SET used_at = now()
     WHERE code_hash = $1 AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > now()
       AND NOT EXISTS (SELECT 1 FROM gateways g WHERE g.id = c.gateway_id AND g.revoked_at IS NOT NULL)
     RETURNING gateway_id, patient_id`,
    [hashSecret(code)],
  );
  const row = rows[0];
  if (!row) return undefined;
  const { password } = await createGateway(
    pool,
    { id: row.gateway_id, patientId: row.patient_id },
    `enrollment:${row.gateway_id}`,
  );
  return { gatewayId: row.gateway_id, password };
}

export function registerEnrollmentRoutes(app: ZApp, ctx: ApiContext): void {
  app.post(
    '/enrollment/exchange',
    {
      schema: {
        tags: ['enrollment'],
        summary: 'A gateway box exchanges its printed enrollment code for its credential (once)',
        body: z.object({ code: enrollmentCodeSchema }).strict(),
        response: { 200: z.object({ gatewayId: z.string(), mqttPassword: z.string() }) },
      },
    },
    async (req) => {
      // wrong codes are throttled per address (hub/security/failure-limiter.ts)
      const key = `enrollment:${req.ip}`;
      const wait = await ctx.authFailures.retryAfterMs(key);
      if (wait > 0) throw new ApiError('RATE_LIMITED', 'too many invalid enrollment codes; retry later', wait);
      const r = await exchangeEnrollmentCode(ctx.pool, req.body.code);
      // unknown, used, expired, cancelled and revoked look the same: the route tells nothing about other codes
      if (!r) {
        await ctx.authFailures.fail(key);
        throw new ApiError('NOT_FOUND', 'ENROLLMENT_CODE_INVALID: unknown, already used or expired enrollment code');
      }
      return { gatewayId: r.gatewayId, mqttPassword: r.password };
    },
  );

  app.post(
    '/api/enrollment-codes',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        body: z
          .object({
            gatewayId: gatewayIdSchema,
            patientId: patientIdSchema,
            validDays: z.number().int().min(1).max(365).optional(),
          })
          .strict(),
        response: { 201: z.object({ code: z.string(), expiresAt: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = who(req);
      // enrollment.write (coordinating nurse, admin) for a patient in scope: the nurse hands the box over
      await requirePatient(ctx.pool, p, 'enrollment.write', req.body.patientId);
      const revoked = await ctx.pool.query('SELECT 1 FROM gateways WHERE id = $1 AND revoked_at IS NOT NULL', [
        req.body.gatewayId,
      ]);
      // a revoked box comes back only under a new gateway id (docs/security.md "Credentials")
      if (revoked.rowCount) throw new ApiError('CONFLICT', 'GATEWAY_REVOKED: this gateway id is revoked');
      const gw = await ctx.pool.query<{ patient_id: string | null }>('SELECT patient_id FROM gateways WHERE id = $1', [
        req.body.gatewayId,
      ]);
      // a code re-keys a box of this household only; it never moves another household's box
      if (gw.rows[0] && gw.rows[0].patient_id !== req.body.patientId)
        throw new ApiError('CONFLICT', 'GATEWAY_OTHER_HOUSEHOLD: gateway serves another household');
      return reply.status(201).send(await createEnrollmentCode(ctx.pool, req.body, p.id));
    },
  );
}
