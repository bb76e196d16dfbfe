import { z } from 'zod';
import { gatewayIdSchema } from '../../contract';
import { releaseVersionSchema } from '../../deploy/release';
import type { ApiContext, ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import { verifySecret } from '../security/secrets';

const FILES = { 'manifest.json': 'manifest', 'manifest.sig': 'signature', 'bundle.mjs': 'artifact' } as const;

/** the gateway id and password of an HTTP Basic header (RFC 7617), or undefined */
function basicCredentials(header: string | undefined): { gatewayId: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const id = gatewayIdSchema.safeParse(decoded.slice(0, colon));
  return colon > 0 && id.success ? { gatewayId: id.data, secret: decoded.slice(colon + 1) } : undefined;
}

/**
 * Release downloads for the over-the-air agent (gateway/update/ota-agent.ts): the manifest, its
 * signature and the bundle of a release, to a box that authenticates with its own credential (the
 * MQTT password issued at enrollment, HTTP Basic) and only for a release offered to that box
 * (deny by default). The box checks the signature with its pinned key whatever this route serves.
 * Failed credentials are throttled per address like the enrollment codes.
 */
export function registerReleaseRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/gateway/releases/:version/:file',
    {
      schema: {
        tags: ['gateways'],
        summary: 'A gateway box downloads a release offered to it (HTTP Basic: gateway id and credential)',
        params: z.object({
          version: releaseVersionSchema,
          file: z.enum(['manifest.json', 'manifest.sig', 'bundle.mjs']),
        }),
      },
    },
    async (req, reply) => {
      const key = `gateway-release:${req.ip}`;
      const wait = await ctx.authFailures.retryAfterMs(key);
      if (wait > 0) throw new ApiError('RATE_LIMITED', 'too many failed gateway credentials; retry later', wait);
      const creds = basicCredentials(req.headers.authorization);
      const { rows: gateways } = creds
        ? await ctx.pool.query<{ credential_hash: string | null; revoked_at: Date | null }>(
            'SELECT credential_hash, revoked_at FROM gateways WHERE id = $1',
            [creds.gatewayId],
          )
        : { rows: [] };
      const gw = gateways[0];
      if (!creds || !gw || gw.revoked_at || !verifySecret(creds.secret, gw.credential_hash)) {
        await ctx.authFailures.fail(key);
        void reply.header('www-authenticate', 'Basic realm="vigil-gateway"');
        throw new ApiError('UNAUTHENTICATED', 'gateway credentials required');
      }
      const column = FILES[req.params.file];
      const { rows } = await ctx.pool.query<{ body: Buffer | string }>(
        `SELECT r.${column} AS body FROM gateway_releases r
         JOIN gateway_updates u ON u.version = r.version AND u.gateway_id = $2
         WHERE r.version = $1`,
        [req.params.version, creds.gatewayId],
      );
      const row = rows[0];
      if (!row) throw new ApiError('NOT_FOUND', 'RELEASE_NOT_OFFERED: no such release offered to this gateway');
      const type =
        req.params.file === 'bundle.mjs'
          ? 'text/javascript'
          : req.params.file === 'manifest.json'
            ? 'application/json'
            : 'text/plain';
      return reply.type(type).send(typeof row.body === 'string' ? Buffer.from(row.body) : row.body);
    },
  );
}
