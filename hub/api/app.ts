import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type pg from 'pg';
import { EpisodeStore } from '../alerts/episode-store';
import { registerFhirRoutes } from '../fhir/routes';
import type { HubMetrics } from '../observability/metrics';
import { systemClock, type Clock } from '../rules/clock';
import { RuleEngine } from '../rules/engine';
import { hashSecret } from '../security/secrets';
import type { TimeSeriesStore } from '../storage/influx/timeseries';
import type { Professional, Role } from './authz';
import type { ApiContext } from './context';
import { GatewayRemoteConfig } from '../gateways/remote-config';
import { API_ERRORS, ApiError, type ApiErrorCode } from './errors';
import { trackRoutes } from './route-table';
import { ProvisioningError } from '../admin/provisioning';
import { registerAdminRoutes } from './routes/admin';
import { registerReportRoutes } from './routes/reports';
import { registerCoachingRoutes } from './routes/coaching';
import { registerAlertRoutes } from './routes/alerts';
import { registerPatientRoutes } from './routes/patients';
import { registerRuleRoutes } from './routes/rules';
import { NotifyService } from '../notify/service';
import { registerPatientSideApi } from '../patient/pro-routes';
import { createPatientSide, type PatientSide } from '../patient/side';
import { registerPatientSpace } from '../patient/space-routes';
import type { WebOptions } from '../web/context';
import { registerWeb } from '../web/plugin';
import { registerCookieSessions } from '../web/session/plugin';
import { registerCredentialRoutes } from './routes/credentials';
import { registerPrivacyRoutes } from './routes/privacy';
import { recordAccess, patientOfRequest } from '../security/access-audit';
import type { EgressProfile } from '../security/egress';
import { FailureLimiter, type FailureLimit } from '../security/failure-limiter';
import { cutSlowBodies } from '../security/slow-body';

export interface ApiDeps {
  pool: pg.Pool;
  timeseries: TimeSeriesStore;
  metrics: HubMetrics;
  logLevel: string;
  clock?: Clock;
  episodes?: EpisodeStore;
  rules?: RuleEngine;
  /** the boxes' remote config (hub/main.ts: published through the MQTT side); absent: the API answers MQTT_UNAVAILABLE */
  gatewayConfig?: GatewayRemoteConfig;
  /** the patient space, messaging, questionnaires, content (hub/patient/side.ts); absent: built without channels or message keys */
  patientSide?: PatientSide;
  /** the care team's web workspace (docs/web.md); defaults when absent */
  web?: WebOptions;
  /** webhook targets: production = https to public addresses only (hub/security/egress.ts); default development */
  egressProfile?: EgressProfile;
  /** docs/security.md "HTTP edge": body cap and timeouts */
  edge?: Partial<HttpEdgeLimits>;
  /** failed bearer tokens and enrollment codes per client address (hub/security/failure-limiter.ts) */
  authFailureLimit?: FailureLimit;
  /** seals webhook secrets at rest (hub/security/secret-box.ts) */
  secretKey?: string | undefined;
  /** serve HTTPS (TLS 1.2+) with this key and certificate (PEM) */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

export interface HttpEdgeLimits {
  bodyLimitBytes: number;
  /** a request (headers and body) must be received within this time: a trickled body is cut */
  requestTimeoutMs: number;
  /** an idle socket is closed after this time */
  connectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_EDGE: HttpEdgeLimits = {
  bodyLimitBytes: 1024 * 1024,
  requestTimeoutMs: 20_000,
  connectionTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

export const WEB_DEFAULTS: WebOptions = { idleTimeoutMinutes: 15, absoluteTimeoutHours: 12, secureCookies: 'auto' };

const noBroker = (): Promise<void> =>
  Promise.reject(Object.assign(new Error('no MQTT broker attached to this API'), { code: 'MQTT_UNAVAILABLE' }));

/**
 * The hub HTTP API (docs/api.md): fastify with zod schemas at every boundary, OpenAPI at /docs,
 * bearer tokens per professional, authorization by role, care-team membership and patient consent
 * (hub/api/authz.ts). Tests call inject(); main.ts listens.
 */
export async function buildApi(d: ApiDeps): Promise<FastifyInstance> {
  const edge = { ...DEFAULT_HTTP_EDGE, ...d.edge };
  const app = Fastify({
    bodyLimit: edge.bodyLimitBytes,
    requestTimeout: edge.requestTimeoutMs,
    connectionTimeout: edge.connectionTimeoutMs,
    keepAliveTimeout: edge.keepAliveTimeoutMs,
    // Node checks requestTimeout every connectionsCheckingInterval (default 30 s): check every second
    ...(d.tls
      ? {
          https: {
            key: d.tls.key,
            cert: d.tls.cert,
            minVersion: 'TLSv1.2' as const,
            connectionsCheckingInterval: 1000,
          },
        }
      : { http: { connectionsCheckingInterval: 1000 } }),
    logger: d.logLevel === 'silent' ? false : { level: d.logLevel, redact: ['req.headers.authorization'] },
    // per-request lines would carry patient ids in URLs: the API audits access itself (audit_log)
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  cutSlowBodies(app, edge.requestTimeoutMs);
  trackRoutes(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const clock = d.clock ?? systemClock;
  const episodes = d.episodes ?? new EpisodeStore(d.pool);
  const rules = d.rules ?? new RuleEngine(episodes, d.metrics, app.log as never, { pool: d.pool, clock });
  const gatewayConfig = d.gatewayConfig ?? new GatewayRemoteConfig(d.pool, noBroker, clock);
  const ctx: ApiContext = {
    pool: d.pool,
    timeseries: d.timeseries,
    metrics: d.metrics,
    clock,
    episodes,
    settings: rules.settings,
    rules,
    gatewayConfig,
    egressProfile: d.egressProfile ?? 'development',
    secretKey: d.secretKey,
    authFailures: new FailureLimiter(d.authFailureLimit),
  };

  app.setErrorHandler((err, req, reply) => {
    let code: string;
    let status: number;
    let message: string;
    const statusCode = (err as { statusCode?: number }).statusCode;
    if (err instanceof ApiError) {
      ({ code, status, message } = err);
      if (err.retryAfterMs) void reply.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
    } else if (statusCode === 413) {
      code = 'PAYLOAD_TOO_LARGE';
      status = 413;
      message = `request body over ${edge.bodyLimitBytes} bytes`;
    } else if (err instanceof ProvisioningError) {
      code = err.code === 'INVALID_ROLE' || err.code === 'PROGRAM_MISMATCH' ? 'INVALID_REQUEST' : 'CONFLICT';
      status = API_ERRORS[code as ApiErrorCode];
      message = `${err.code}: ${err.message}`;
    } else if ((err as { validation?: unknown }).validation) {
      code = 'INVALID_REQUEST';
      status = 400;
      message = err instanceof Error ? err.message : String(err);
    } else if (
      (err as { statusCode?: number }).statusCode === 415 ||
      (err as { statusCode?: number }).statusCode === 400
    ) {
      code = 'INVALID_REQUEST';
      status = 400;
      message = (err as Error).message;
    } else {
      app.log.error({ err: err instanceof Error ? err.message : String(err), code: 'INTERNAL' }, 'request failed');
      code = 'INTERNAL';
      status = 500;
      message = 'internal error';
    }
    // RFC 6750 §3.1: a token lacking the scope asked gets insufficient_scope
    if (code === 'INSUFFICIENT_SCOPE') void reply.header('www-authenticate', 'Bearer error="insufficient_scope"');
    if (req.url.startsWith('/fhir/')) {
      const fhirCode =
        status === 401
          ? 'login'
          : status === 403
            ? 'forbidden'
            : status === 404
              ? 'not-found'
              : status === 400
                ? 'invalid'
                : 'exception';
      return reply
        .status(status)
        .type('application/fhir+json')
        .send({
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: fhirCode,
              details: { coding: [{ system: 'urn:vigil:error', code }] },
              diagnostics: message,
            },
          ],
        });
    }
    return reply.status(status).send({ code, message });
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Vigil hub API',
        version: '1.0.0',
        description:
          'Patients, enrollment, devices, readings, rules, alert worklist, quarantine, audit; read-only FHIR R4. See docs/api.md for the authorization matrix.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // browsers: a signed-in professional's session cookie (+ CSRF on writes) stands for her bearer token
  const web = d.web ?? WEB_DEFAULTS;
  const sessions = await registerCookieSessions(app, d.pool, web);

  // authentication: every /api and /fhir route needs a professional's bearer token, not expired,
  // not revoked (migration 101); wrong tokens are throttled per client address
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/') && !req.url.startsWith('/fhir/')) return;
    // the CapabilityStatement is public by the FHIR RESTful API (http.html#capabilities)
    if (req.url === '/fhir/metadata' || req.url.startsWith('/fhir/metadata?')) return;
    if (req.professional) return; // authenticated by the session cookie above
    const h = req.headers.authorization;
    const token = h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
    if (!token) throw new ApiError('UNAUTHENTICATED', 'missing bearer token');
    const key = `token:${req.ip}`;
    const wait = await ctx.authFailures.retryAfterMs(key);
    if (wait > 0) throw new ApiError('RATE_LIMITED', 'too many failed authentications; retry later', wait);
    const { rows } = await d.pool.query<{
      id: string;
      role: Role;
      token_scopes: string[];
      token_patient_id: string | null;
    }>(
      `SELECT id, role, token_scopes, token_patient_id FROM professionals WHERE token_hash = $1 AND revoked_at IS NULL
         AND (token_expires_at IS NULL OR token_expires_at > now())`,
      [hashSecret(token)],
    );
    if (!rows[0]) {
      await ctx.authFailures.fail(key);
      throw new ApiError('UNAUTHENTICATED', 'unknown, expired or revoked token');
    }
    req.professional = { id: rows[0].id, role: rows[0].role } satisfies Professional;
    // a web session carries no scopes, so it never reads /fhir (hub/fhir/scopes.ts)
    req.tokenScopes = { scopes: rows[0].token_scopes, patientId: rows[0].token_patient_id };
  });

  // access audit (migration 102): every professional request, allowed or refused, one row,
  // written before the answer leaves (onSend): no data reaches a client without its trace
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.url.startsWith('/api/') && !req.url.startsWith('/fhir/')) return payload;
    const route = req.routeOptions.url ?? null;
    await recordAccess(d.pool, {
      actor: req.professional?.id ?? null,
      role: req.professional?.role ?? null,
      action: `${req.method} ${route ?? 'unknown route'}`,
      route,
      patientId: req.auditPatientId ?? patientOfRequest(req.url, req.params, req.query),
      status: reply.statusCode,
      address: req.ip,
    }).catch((e: unknown) =>
      app.log.error(
        { err: e instanceof Error ? e.message : String(e), code: 'ACCESS_AUDIT_FAILED' },
        'access not audited',
      ),
    );
    return payload;
  });

  app.get('/health', { schema: { hide: true } }, async (_req, reply) => {
    const [pgOk, influxOk] = await Promise.all([
      d.pool.query('SELECT 1').then(
        () => true,
        () => false,
      ),
      d.timeseries.ping(),
    ]);
    return reply
      .status(pgOk && influxOk ? 200 : 503)
      .send({ status: pgOk && influxOk ? 'ok' : 'degraded', postgres: pgOk, influxdb: influxOk });
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    // a failed query leaves its gauge absent and counts a scrape error: never a false 0 (issue 18)
    const scrape = async <R extends pg.QueryResultRow>(name: string, sql: string): Promise<R[] | undefined> =>
      d.pool.query<R>(sql).then(
        (r) => r.rows,
        () => {
          d.metrics.scrapeErrors.inc({ query: name });
          return undefined;
        },
      );
    const [open, webhooks, pending] = await Promise.all([
      scrape<{ severity: string; n: string }>(
        'open_episodes',
        `SELECT severity, count(*) n FROM alert_episodes WHERE status <> 'resolved' GROUP BY severity`,
      ),
      scrape<{ n: string }>('webhook_queue', `SELECT count(*) n FROM webhook_deliveries WHERE status = 'pending'`),
      scrape<{ n: string }>('rule_pending', `SELECT count(*) n FROM rule_evaluations_pending`),
    ]);
    d.metrics.openEpisodes.reset();
    if (open)
      for (const s of ['amber', 'red'])
        d.metrics.openEpisodes.set({ severity: s }, Number(open.find((r) => r.severity === s)?.n ?? 0));
    // an unlabelled gauge cannot be absent: NaN says "unknown" where 0 would say "none"
    d.metrics.webhookQueueDepth.set(webhooks?.[0] ? Number(webhooks[0].n) : NaN);
    d.metrics.rulePending.set(pending?.[0] ? Number(pending[0].n) : NaN);
    return reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });

  registerPatientRoutes(app, ctx);
  registerAlertRoutes(app, ctx);
  registerRuleRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerReportRoutes(app, ctx);
  registerCoachingRoutes(app, ctx);
  const side =
    d.patientSide ??
    createPatientSide({
      pool: d.pool,
      clock,
      episodes,
      notify: new NotifyService(d.pool, {}, app.log, clock),
      publicUrl: 'http://127.0.0.1:8080',
      secureCookies: false,
    });
  registerFhirRoutes(app, ctx, side);
  (await import('./enrollment')).registerEnrollmentRoutes(app, ctx);
  (await import('../fleet/release-routes')).registerReleaseRoutes(app, ctx);
  registerCredentialRoutes(app, ctx);
  registerPrivacyRoutes(app, ctx);
  await registerPatientSpace(app, side);
  await registerPatientSideApi(app, side);
  await registerWeb(app, ctx, web, sessions);
  return app;
}
