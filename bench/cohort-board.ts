import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { createPool, dropDatabase, ensureDatabase, migrate, refreshCohortAggregates } from '../hub';
import { percentile } from '../simulators/fleet/fleet';
import { boardQueries, isEmpty, runPostgres } from '../test/dashboards/board-queries';
import type { QueryContext } from '../test/dashboards/grafana-interpolate';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, onInterrupt, PG_BASE, report, scratchName } from './lib/env';

/**
 * Cohort board: the hourly refresh of grafana.cohort_monthly (migration 262, a materialised view)
 * and the board's load time, its PostgreSQL queries (dashboards/boards/cohort.ts, extracted and
 * interpolated as Grafana does, run as Grafana's read-only role), on a seeded deployment: --teams care teams of
 * --patients-per-team patients enrolled --days ago, one reading a day each (two metrics), one
 * episode per patient a month. The board's queries run together, as Grafana loads a board.
 *   npx tsx bench/cohort-board.ts [--teams 20] [--patients-per-team 50] [--days 365] [--samples 10]
 */
const args = benchArgs(
  z.object({
    teams: int(1, 1000, 20),
    'patients-per-team': int(1, 10_000, 50),
    days: int(1, 3650, 365),
    samples: int(1, 1000, 10),
  }),
);
const DAY = 86_400_000;
const url = `${PG_BASE}/${scratchName('vigil_bench_cohort')}`;
await ensureDatabase(url);
const pool = createPool(url, 4);
const cleanup = async () => {
  await pool.end().catch(() => {});
  await dropDatabase(url).catch(() => {});
};
const forget = onInterrupt(cleanup);
try {
  await migrate(pool);
  const patients = args.teams * args['patients-per-team'];
  const enrolled = new Date(Date.now() - args.days * DAY);
  log(`cohort: seeding ${args.teams} teams x ${args['patients-per-team']} patients x ${args.days} days`);
  const t0 = performance.now();
  await pool.query(
    `INSERT INTO care_teams (id, program_id, name)
     SELECT 'team-' || t, 'heart_failure', 'Team ' || t FROM generate_series(1, $1::int) t`,
    [args.teams],
  );
  await pool.query(
    `INSERT INTO patients (id, program_id, display_name, created_at)
     SELECT 'pat-' || p, 'heart_failure', 'P ' || p, $2::timestamptz FROM generate_series(1, $1::int) p`,
    [patients, enrolled],
  );
  await pool.query(
    `INSERT INTO care_team_patients (care_team_id, patient_id)
     SELECT 'team-' || (1 + (p - 1) / $2::int), 'pat-' || p FROM generate_series(1, $1::int) p`,
    [patients, args['patients-per-team']],
  );
  await pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
     SELECT md5(p || '/' || d || m), 'pat-' || p, 'gw-' || p, 'C0:00:00:00:00:01', 'sim', m, 70, 'x',
            $2::timestamptz + d * interval '1 day' + interval '8 hours', now()
       FROM generate_series(1, $1::int) p, generate_series(0, $3::int - 1) d, unnest(ARRAY['heart_rate', 'body_weight']) m
      WHERE (p + d) % 5 <> 0`,
    [patients, enrolled, args.days],
  );
  await pool.query(
    `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, priority, opened_at, updated_at, summary, acknowledged_at)
     SELECT 'pat-' || p, 'r', 'amber', 'resolved', 'routine', o, o, 'x', o + interval '17 minutes'
       FROM generate_series(1, $1::int) p,
            LATERAL (SELECT $2::timestamptz + k * interval '30 days' + interval '9 hours' AS o
                       FROM generate_series(0, ($3::int - 1) / 30) k) e`,
    [patients, enrolled, args.days],
  );
  await pool.query('ANALYZE');
  const seedS = (performance.now() - t0) / 1000;
  const readings = Number((await pool.query<{ n: string }>('SELECT count(*) n FROM reading_ledger')).rows[0]?.n);

  const tr = performance.now();
  await refreshCohortAggregates(pool);
  const refreshMs = performance.now() - tr;

  const queries = boardQueries('cohort').filter((q) => q.datasource === 'postgres');
  const now = new Date();
  const ctx: QueryContext = {
    from: new Date(now.getTime() - 365 * DAY),
    to: now,
    interval: '1d',
    variables: {
      program: { value: ['heart_failure'], multi: true, includeAll: true },
      care_team: {
        value: Array.from({ length: args.teams }, (_, t) => `team-${t + 1}`),
        multi: true,
        includeAll: true,
      },
    },
    user: { login: 'admin' },
  };
  const loads: number[] = [];
  let empty = 0;
  for (let i = 0; i <= args.samples; i++) {
    const t = performance.now();
    const results = await Promise.all(queries.map((q) => runPostgres(q, ctx, pool)));
    if (i > 0) loads.push(performance.now() - t); // the first load warms the cache
    empty = Math.max(empty, results.filter(isEmpty).length);
  }
  const r = (x: number) => Math.round(x);
  const s = [...loads].sort((a, b) => a - b);
  report('cohort-board', {
    teams: args.teams,
    patients,
    days: args.days,
    readings,
    seedS: Math.round(seedS * 10) / 10,
    refreshMs: Math.round(refreshMs),
    queriesPerBoard: queries.length,
    boardLoadMs: { p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s.at(-1) ?? 0) },
    emptyPanels: empty,
    load1m: loadAverage(),
  });
} finally {
  forget();
  await cleanup();
}
