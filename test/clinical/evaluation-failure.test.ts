import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpisodeStore } from '../../hub/alerts/episode-store';
import { buildApi } from '../../hub/api/app';
import type { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { createHubMetrics } from '../../hub/observability/metrics';
import { RuleEngine } from '../../hub/rules/engine';
import { rulesFixture, type RulesFixture } from '../integration/rules-fixture';

/**
 * No silent failure (issue 18): the episode table is locked by another session while a red reading
 * is evaluated (reads allowed, writes blocked, as when PostgreSQL stalls); the evaluation fails, is recorded as pending (visible in
 * vigil_rule_evaluations_pending / the failure counter), and the episode opens on the retry once
 * the lock is gone.
 */
describe('rule evaluation failure', () => {
  let f: RulesFixture;
  let enginePool: pg.Pool;
  beforeAll(async () => {
    f = await rulesFixture();
    // the engine's own pool gives up on a lock after 300 ms instead of waiting for ever
    enginePool = new pg.Pool({ connectionString: `${f.pg.url}?options=-c%20lock_timeout%3D300`, max: 2 });
    // dropping the database at the end terminates a connection still closing (57P01): not a failure
    enginePool.on('error', () => {});
  });
  afterAll(async () => {
    await enginePool.end();
    await f.pg.drop();
  });

  it('records the failed evaluation, then opens the episode on retry', async () => {
    const metrics = createHubMetrics();
    const engine = new RuleEngine(new EpisodeStore(enginePool), metrics, pino({ level: 'silent' }), {
      pool: enginePool,
      clock: f.clock,
    });
    await f.enroll('PF1', 'oral_chemotherapy');
    const at = f.clock.now();
    const readings = await f.file('PF1', at, { body_temperature: 38.9 });
    const locker = await f.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE alert_episodes IN EXCLUSIVE MODE');
      await engine.onStored(readings);
      const pending = await f.pool.query<{ rule_id: string }>('SELECT rule_id FROM rule_evaluations_pending');
      expect(pending.rows.map((r) => r.rule_id)).toEqual(['chemo-fever']);
      // what the operator sees meanwhile
      const api = await buildApi({ pool: enginePool, timeseries: noTimeseries, metrics, logLevel: 'silent' });
      const m = (await api.inject({ method: 'GET', url: '/metrics' })).body;
      await api.close();
      expect(m).toMatch(/vigil_rule_failures_total\{rule="chemo-fever"\} 1/);
      expect(m).toMatch(/vigil_rule_evaluations_pending 1/);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect(await f.episodeRows('PF1')).toHaveLength(0);
    await engine.tick();
    const eps = await f.episodeRows('PF1');
    expect(eps.map((e) => [e.rule_id, e.severity])).toEqual([['chemo-fever', 'red']]);
    expect((await f.pool.query('SELECT 1 FROM rule_evaluations_pending')).rowCount).toBe(0);
  });

  it('/metrics reports a scrape error, never a false 0 of open episodes, when PostgreSQL is unreachable', async () => {
    const down = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    down.on('error', () => {});
    const metrics = createHubMetrics();
    const api = await buildApi({ pool: down, timeseries: noTimeseries, metrics, logLevel: 'silent' });
    try {
      const m = (await api.inject({ method: 'GET', url: '/metrics' })).body;
      expect(m).toMatch(/vigil_metrics_scrape_errors_total\{query="open_episodes"\} 1/);
      expect(m).not.toMatch(/vigil_alert_episodes_open\{/);
      // prom-client writes NaN as "Nan", which Prometheus parses as NaN
      expect(m).toMatch(/vigil_rule_evaluations_pending Nan/i);
    } finally {
      await api.close();
      await down.end();
    }
  });
});

/** /metrics reads PostgreSQL only; no time series store is needed */
const noTimeseries = { ping: () => Promise.resolve(false) } as unknown as TimeSeriesStore;
