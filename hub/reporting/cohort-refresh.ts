import type pg from 'pg';

/** How often the hub recomputes the cohort board's aggregates (migration 262). */
export const COHORT_REFRESH_MS = 60 * 60_000;
/** one hub refreshes at a time: the others skip that round (a second refresh would redo the same work) */
const LOCK = "hashtext('vigil-cohort-monthly')";

/**
 * Recomputes grafana.cohort_monthly without blocking the boards that read it (REFRESH ...
 * CONCURRENTLY, PostgreSQL docs "REFRESH MATERIALIZED VIEW"). Returns false when another hub
 * instance holds the refresh.
 */
export async function refreshCohortAggregates(pool: pg.Pool): Promise<boolean> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS ok`);
    if (!rows[0]?.ok) return false;
    try {
      await client.query('REFRESH MATERIALIZED VIEW CONCURRENTLY grafana.cohort_monthly');
      return true;
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${LOCK})`);
    }
  } finally {
    client.release();
  }
}

/** Refreshes now and every `everyMs`; failures are logged with a stable code, never thrown. */
export function startCohortRefresh(
  pool: pg.Pool,
  log: { warn(o: object, msg: string): void; debug(o: object, msg: string): void },
  everyMs = COHORT_REFRESH_MS,
): () => void {
  const run = () =>
    void refreshCohortAggregates(pool).then(
      (done) => log.debug({ done }, 'cohort aggregates refreshed'),
      (e: unknown) =>
        log.warn(
          { code: 'COHORT_REFRESH_FAILED', err: e instanceof Error ? e.message : String(e) },
          'cohort aggregates not refreshed',
        ),
    );
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
