import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import type { EpisodeStore } from '../alerts/episode-store';
import type { FullEpisodeRow } from '../fhir/load';
import type { GatewayRemoteConfig } from '../gateways/remote-config';
import type { HubMetrics } from '../observability/metrics';
import type { Clock } from '../rules/clock';
import type { RuleEngine } from '../rules/engine';
import type { RuleSettings } from '../rules/settings';
import type { TimeSeriesStore } from '../storage/influx/timeseries';
import type { Professional } from './authz';
import { ApiError } from './errors';
import type { EgressProfile } from '../security/egress';
import type { FailureLimiter } from '../security/failure-limiter';

export type ZApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export interface ApiContext {
  pool: pg.Pool;
  timeseries: TimeSeriesStore;
  metrics: HubMetrics;
  clock: Clock;
  episodes: EpisodeStore;
  settings: RuleSettings;
  rules: RuleEngine;
  gatewayConfig: GatewayRemoteConfig;
  /** webhook target policy (hub/security/egress.ts) */
  egressProfile: EgressProfile;
  /** seals webhook secrets at rest */
  secretKey: string | undefined;
  /** failed credentials per client address (bearer tokens, enrollment codes) */
  authFailures: FailureLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    professional?: Professional;
    /** the patient id the access log records for this request (an erasure records the pseudonym) */
    auditPatientId?: string;
    /** the bearer token's SMART scopes and launch patient (absent for a web session: no /fhir access) */
    tokenScopes?: { scopes: readonly string[]; patientId: string | null };
    /** set on /fhir requests whose scope grants one patient only (patient/ scopes) */
    fhirPatientLimit?: string;
  }
}

/** The authenticated professional (set by the auth hook on /api and /fhir). */
export function who(req: FastifyRequest): Professional {
  if (!req.professional) throw new ApiError('UNAUTHENTICATED', 'missing bearer token');
  return req.professional;
}

export const errorSchema = z.object({ code: z.string(), message: z.string() });
export const bearer = [{ bearerAuth: [] }];

export const episodeSchema = z.object({
  id: z.number(),
  patientId: z.string(),
  ruleId: z.string(),
  ruleTitle: z.string(),
  severity: z.enum(['amber', 'red']),
  status: z.enum(['open', 'acknowledged', 'resolved']),
  priority: z.enum(['routine', 'urgent', 'stat']),
  assignee: z.string().nullable(),
  openedAt: z.string(),
  updatedAt: z.string(),
  acknowledgedAt: z.string().nullable(),
  acknowledgedBy: z.string().nullable(),
  resolvedAt: z.string().nullable(),
  resolvedBy: z.string().nullable(),
  breachCount: z.number(),
  lastValue: z.unknown(),
  summary: z.string(),
  triggerReadingIds: z.array(z.string()),
  escalatedFrom: z.string().nullable(),
  relatedEpisodeIds: z.array(z.number()),
  normalStreak: z.number(),
  silenced: z.boolean(),
});
export type EpisodeJson = z.infer<typeof episodeSchema>;

export function episodeJson(e: FullEpisodeRow, silenced = false): EpisodeJson {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: e.id,
    patientId: e.patientId,
    ruleId: e.ruleId,
    ruleTitle: e.ruleTitle,
    severity: e.severity,
    status: e.status,
    priority: e.priority,
    assignee: e.assignee,
    openedAt: e.openedAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
    acknowledgedAt: iso(e.acknowledgedAt),
    acknowledgedBy: e.acknowledgedBy,
    resolvedAt: iso(e.resolvedAt),
    resolvedBy: e.resolvedBy,
    breachCount: e.breachCount,
    lastValue: e.lastValue,
    summary: e.summary,
    triggerReadingIds: e.triggerReadingIds,
    escalatedFrom: e.escalatedFrom,
    relatedEpisodeIds: e.relatedEpisodeIds,
    normalStreak: e.normalStreak,
    silenced,
  };
}
