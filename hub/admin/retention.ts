import type { Logger } from 'pino';
import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';

/**
 * Storage limitation (GDPR art. 5(1)(e)): each PostgreSQL store keeps its rows a finite time,
 * set per store in the config (retention.*, docs/privacy.md "Retention"); InfluxDB enforces its own
 * through the retention policies (influx.rawRetention, influx.dailyRetention). The job runs on a
 * timer in every hub instance; the deletes are idempotent, so running twice costs nothing.
 */
export interface RetentionDays {
  /** reading ledger (one row per reading: the ids behind the time series) */
  readings: number;
  /** resolved alert episodes, their notifications and webhook deliveries */
  resolvedEpisodes: number;
  quarantine: number;
  deadLetters: number;
  webhookDeliveries: number;
  accessLog: number;
  auditLog: number;
}

export const DEFAULT_RETENTION_DAYS: RetentionDays = {
  readings: 5 * 365,
  resolvedEpisodes: 5 * 365,
  quarantine: 90,
  deadLetters: 30,
  webhookDeliveries: 90,
  accessLog: 3 * 365,
  auditLog: 3 * 365,
};

export type RetentionReport = Record<keyof RetentionDays, number>;

export async function enforceRetention(
  pool: pg.Pool,
  days: RetentionDays = DEFAULT_RETENTION_DAYS,
  now: Date = new Date(),
): Promise<RetentionReport> {
  const before = (d: number) => new Date(now.getTime() - d * 86_400_000);
  const n = async (sql: string, params: unknown[]) => (await pool.query(sql, params)).rowCount ?? 0;
  const report = {} as RetentionReport;
  report.webhookDeliveries = await n(`DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1`, [
    before(days.webhookDeliveries),
  ]);
  report.resolvedEpisodes = await inTransaction(pool, async (c) => {
    const old = `SELECT id FROM alert_episodes WHERE status = 'resolved' AND resolved_at < $1`;
    await c.query(
      `DELETE FROM webhook_deliveries WHERE notification_id IN (SELECT id FROM notifications WHERE episode_id IN (${old}))`,
      [before(days.resolvedEpisodes)],
    );
    await c.query(`DELETE FROM notifications WHERE episode_id IN (${old})`, [before(days.resolvedEpisodes)]);
    await c.query(`DELETE FROM remeasure_requests WHERE status <> 'pending' AND requested_at < $1`, [
      before(days.resolvedEpisodes),
    ]);
    return (
      (await c.query(`DELETE FROM alert_episodes WHERE id IN (${old})`, [before(days.resolvedEpisodes)])).rowCount ?? 0
    );
  });
  report.readings = await n('DELETE FROM reading_ledger WHERE measured_at < $1', [before(days.readings)]);
  report.quarantine = await n('DELETE FROM quarantined_readings WHERE received_at < $1', [before(days.quarantine)]);
  report.deadLetters = await n('DELETE FROM dead_letters WHERE received_at < $1', [before(days.deadLetters)]);
  // the append-only logs accept a DELETE only of rows older than the cutoff set for this transaction (migration 102)
  const trim = (table: 'access_log' | 'audit_log', d: number) =>
    inTransaction(pool, async (c) => {
      const cutoff = before(d).toISOString();
      await c.query(`SELECT set_config('vigil.retention', $1, true)`, [cutoff]);
      return (await c.query(`DELETE FROM ${table} WHERE at < $1`, [cutoff])).rowCount ?? 0;
    });
  report.accessLog = await trim('access_log', days.accessLog);
  report.auditLog = await trim('audit_log', days.auditLog);
  const total = Object.values(report).reduce((a, b) => a + b, 0);
  if (total > 0)
    await audit(pool, {
      actor: 'system',
      action: 'retention.enforced',
      entity: 'hub',
      entityId: 'retention',
      detail: report,
      at: now,
    });
  return report;
}

/** Runs enforceRetention every `everyMs` (default daily), first run soon after start. */
export function startRetentionJob(
  pool: pg.Pool,
  days: RetentionDays,
  log: Pick<Logger, 'info' | 'warn'>,
  everyMs = 86_400_000,
): () => void {
  const run = () =>
    void enforceRetention(pool, days).then(
      (r) => log.info({ retention: r }, 'retention enforced'),
      (e: unknown) =>
        log.warn(
          { code: 'RETENTION_FAILED', err: e instanceof Error ? e.message : String(e) },
          'retention pass failed',
        ),
    );
  const first = setTimeout(run, 60_000);
  const timer = setInterval(run, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
