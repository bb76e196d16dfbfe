import type { Logger } from 'pino';
import type pg from 'pg';
import type { HubMetrics } from '../observability/metrics';
import { systemClock, type Clock } from '../rules/clock';
import { EgressError, postOnce, type EgressProfile } from '../security/egress';
import { unseal } from '../security/secret-box';
import { sign } from './signature';
import { errorMessage } from '../../contract/errors';

export interface DispatcherOptions {
  clock?: Clock;
  /** first retry delay; doubles per attempt up to maxDelayMs */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** attempts before a delivery is marked failed */
  maxAttempts?: number;
  timeoutMs?: number;
  batchSize?: number;
  /** production: https to public addresses only (hub/security/egress.ts); the hub passes its config's profile */
  profile?: EgressProfile;
  /** opens the webhook secrets sealed at rest (hub/security/secret-box.ts) */
  secretKey?: string | undefined;
}

export interface DispatchReport {
  attempted: number;
  delivered: number;
  retrying: number;
  failed: number;
}

/** Retry delay after `attempt` failed attempts: exponential backoff, capped. */
export function backoffMs(attempt: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, attempt - 1));
}

/**
 * Delivers queued webhook notifications at least once: claims due deliveries (SKIP LOCKED, so hub
 * instances share the queue), POSTs the FHIR Bundle signed with the webhook's secret and an
 * Idempotency-Key (receivers dedup: alertmanager#4108), logs every attempt and reschedules
 * failures with exponential backoff until maxAttempts.
 */
export class WebhookDispatcher {
  private readonly clock: Clock;
  private readonly o: Required<Omit<DispatcherOptions, 'clock' | 'secretKey'>> & { secretKey: string | undefined };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<DispatchReport> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    opts: DispatcherOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.o = {
      baseDelayMs: 5_000,
      maxDelayMs: 15 * 60_000,
      maxAttempts: 10,
      timeoutMs: 10_000,
      batchSize: 20,
      profile: 'development',
      secretKey: undefined,
      ...opts,
    };
  }

  async runOnce(): Promise<DispatchReport> {
    const report: DispatchReport = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
    const now = this.clock.now();
    // deliveries queued for a patient who has since withdrawn consent never leave (migration 100)
    await this.pool.query(
      `UPDATE webhook_deliveries d SET status = 'failed', last_error = 'CONSENT_WITHDRAWN', leased_until = NULL
       FROM notifications n WHERE n.id = d.notification_id AND d.status = 'pending' AND vigil_processing_stopped(n.patient_id)`,
    );
    const { rows } = await this.pool.query<{
      id: string;
      url: string;
      secret: string;
      payload: unknown;
      attempts: number;
      idempotency_key: string;
      notification_id: string;
    }>(
      `UPDATE webhook_deliveries d SET leased_until = $2
       FROM webhooks w
       WHERE d.id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
                        AND (leased_until IS NULL OR leased_until <= $1) ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
         AND w.id = d.webhook_id
       RETURNING d.id, w.url, w.secret, d.payload, d.attempts, d.idempotency_key, d.notification_id`,
      [now, new Date(now.getTime() + this.o.timeoutMs + 5_000), this.o.batchSize],
    );
    for (const d of rows) {
      report.attempted++;
      const outcome = await this.deliver(d, now);
      report[outcome]++;
      this.metrics.webhookDeliveries.inc({ outcome: outcome === 'retrying' ? 'retry' : outcome });
    }
    const depth = await this.pool.query<{ n: string }>(
      `SELECT count(*) n FROM webhook_deliveries WHERE status = 'pending'`,
    );
    this.metrics.webhookQueueDepth.set(Number(depth.rows[0]?.n ?? 0));
    return report;
  }

  private async deliver(
    d: {
      id: string;
      url: string;
      secret: string;
      payload: unknown;
      attempts: number;
      idempotency_key: string;
      notification_id: string;
    },
    now: Date,
  ): Promise<'delivered' | 'retrying' | 'failed'> {
    const attempt = d.attempts + 1;
    const body = JSON.stringify(d.payload);
    const ts = Math.floor(now.getTime() / 1000);
    const started = performance.now();
    let status: number | null;
    let error: string | null = null;
    try {
      status = await postOnce(
        d.url,
        {
          'content-type': 'application/fhir+json',
          'idempotency-key': d.idempotency_key,
          'x-vigil-timestamp': String(ts),
          'x-vigil-signature': sign(unseal(this.o.secretKey, d.secret), ts, body),
          'x-vigil-delivery': d.id,
          'x-vigil-attempt': String(attempt),
        },
        body,
        { profile: this.o.profile, timeoutMs: this.o.timeoutMs },
      );
    } catch (e) {
      // stable codes only: the delivery log is shown to clinicians (docs/security.md "Webhooks")
      status = (e as { status?: number }).status ?? null;
      error = e instanceof EgressError ? (status ? `HTTP ${status}` : e.code) : 'WEBHOOK_CONNECT_FAILED';
    }
    const ms = Math.round(performance.now() - started);
    await this.pool.query(
      'INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, http_status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)',
      [d.id, attempt, now, status, error?.slice(0, 500) ?? null, ms],
    );
    if (!error) {
      await this.pool.query(
        `UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, delivered_at = $3, last_status = $4, last_error = NULL, leased_until = NULL WHERE id = $1`,
        [d.id, attempt, now, status],
      );
      return 'delivered';
    }
    const failed = attempt >= this.o.maxAttempts;
    const next = new Date(now.getTime() + backoffMs(attempt, this.o.baseDelayMs, this.o.maxDelayMs));
    await this.pool.query(
      `UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6, leased_until = NULL WHERE id = $1`,
      [d.id, failed ? 'failed' : 'pending', attempt, next, status, error.slice(0, 500)],
    );
    // the URL may embed a token: log ids and codes only
    this.log.warn(
      { deliveryId: Number(d.id), attempt, httpStatus: status, code: failed ? 'WEBHOOK_FAILED' : 'WEBHOOK_RETRY' },
      'webhook delivery failed',
    );
    return failed ? 'failed' : 'retrying';
  }

  start(everyMs = 2_000): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((e: unknown) => {
          this.log.warn({ err: errorMessage(e), code: 'WEBHOOK_DISPATCH_FAILED' }, 'webhook dispatch pass failed');
          return { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
        })
        .finally(() => (this.running = undefined));
    }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
