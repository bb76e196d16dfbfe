import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { percentile } from '../simulators/fleet/fleet';
import { mulberry32 } from '../simulators/patients';
import { boardQueries, isEmpty, runInflux } from '../test/dashboards/board-queries';
import type { QueryContext } from '../test/dashboards/grafana-interpolate';
import { benchArgs, int, loadAverage } from './lib/args';
import { ensureInfluxd } from '../scripts/lib/influxd';
import { INFLUX_URL, influxQuery, log, onInterrupt, report, scratchName } from './lib/env';
import { writeLines } from './lib/line-protocol';
import { DAILY_RP, SHARD_DURATIONS, TimeSeriesStore, Trends, WORKSPACE_TREND_METRICS } from '../hub';

/**
 * Patient-board query time with many patients: the InfluxDB queries of the real patient board
 * (dashboards/boards/patient.ts, extracted and interpolated as Grafana does by
 * test/dashboards/board-queries.ts) run together, as Grafana loads a board, for random patients,
 * over the last 30 days and the last year.
 * Seed (hub point schema, scratch database): every patient has a morning BP (systolic +
 * diastolic) each day of --days; --full-patients of them also weight, temperature, SpO2, heart
 * rate and steps each day (every panel drawn). Sizes are in the figures.
 * Also the workspace's patient page (hub/web): the reads GET /api/patients/:id/trends makes for
 * each metric the page draws (Trends.dailySummary: daily rollup, today's hourly rollup, the last
 * hours raw), all metrics together as the page asks for them, over 30 days and a year.
 *   npx tsx bench/dashboard-queries.ts [--patients 10000] [--days 365] [--full-patients 1000] [--samples 40]
 */
const args = benchArgs(
  z.object({
    patients: int(1, 100_000, 10_000),
    days: int(1, 3650, 365),
    'full-patients': int(0, 100_000, 1000),
    samples: int(1, 1000, 40),
    // hub: the hub's shard durations (SHARD_DURATIONS); influx: InfluxDB's 7 days, for comparison
    shards: z.enum(['hub', 'influx']).default('hub'),
  }),
);
const DAY = 86_400_000;

/** The vigil_daily point of a day holding this one raw point (line protocol of bench/lib/line-protocol.ts). */
function rollupLine(raw: string): string {
  const m = /^([^,]+),.*?patient=([^ ]+) value=([^,]+),reading_id="[^"]*" (\d+)$/.exec(raw);
  if (!m) throw new Error(`SEED_LINE_UNEXPECTED: ${raw.slice(0, 80)}`);
  const [, measurement, patient, value, t] = m as unknown as [string, string, string, string, string];
  const day = Math.floor(Number(t) / DAY) * DAY;
  return `${measurement},patient=${patient} mean=${value},min=${value},max=${value},sum=${value},count=1i ${day}`;
}
const db = scratchName('vigil_bench_dash');
// our own influxd when none answers (stopped at the end; one already running is left alone)
const influxd = await ensureInfluxd();
// the hub's own schema: raw RP (default), the daily and hourly rollup RPs and their continuous queries
const store = new TimeSeriesStore(INFLUX_URL, db, { longShards: args.shards === 'hub' });
await store.ensureDatabase();
const forget = onInterrupt(async () => {
  await influxQuery(`DROP DATABASE "${db}"`).catch(() => {});
});
try {
  const today = Math.floor(Date.now() / DAY) * DAY;
  const rng = mulberry32(11);
  const pid = (i: number) => `pat-${String(i).padStart(5, '0')}`;
  let points = 0;
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  let buf: string[] = [];
  const flush = async () => {
    const lines = buf;
    buf = [];
    pending.push(writeLines(db, lines));
    // and the daily rollup the board reads, as the hub's continuous query writes it: the seed has
    // one reading per metric, patient and day, so the day's mean/min/max/sum is that reading
    pending.push(writeLines(db, lines.map(rollupLine), DAILY_RP));
    points += lines.length;
    if (pending.length >= 3) await Promise.all(pending.splice(0));
  };
  log(`dashboard: seeding ${args.patients} patients x ${args.days} days`);
  for (let p = 0; p < args.patients; p++) {
    const full = p < args['full-patients'];
    const tags = `device=AA:BB:CC:00:${(p >> 8) & 255}:${p & 255},driver=sig-blood-pressure,gateway=gw-${p},patient=${pid(p)}`;
    const bpBase = 120 + rng.next() * 25;
    for (let d = args.days; d >= 1; d--) {
      const t = today - d * DAY + 7 * 3_600_000 + p; // morning, distinct ms per patient
      const sys = Math.round(bpBase + rng.normal(0, 6));
      buf.push(`blood_pressure_systolic,${tags} value=${sys}.0,reading_id="s${p}d${d}" ${t}`);
      buf.push(`blood_pressure_diastolic,${tags} value=${Math.round(sys * 0.62)}.0,reading_id="d${p}d${d}" ${t}`);
      if (full) {
        buf.push(
          `body_weight,${tags} value=${(80 + rng.normal(0, 0.3)).toFixed(2)},reading_id="w${p}d${d}" ${t + 60_000}`,
        );
        buf.push(
          `body_temperature,${tags} value=${(36.6 + rng.normal(0, 0.15)).toFixed(1)},reading_id="t${p}d${d}" ${t + 120_000}`,
        );
        buf.push(
          `spo2,${tags} value=${Math.min(100, Math.round(97 + rng.normal(0, 1)))}.0,reading_id="o${p}d${d}" ${t + 180_000}`,
        );
        buf.push(
          `heart_rate,${tags} value=${Math.round(70 + rng.normal(0, 4))}.0,reading_id="h${p}d${d}" ${t + 180_000}`,
        );
        buf.push(
          `steps,${tags} value=${Math.round(6000 * Math.exp(rng.normal(0, 0.2)))}.0,reading_id="k${p}d${d}" ${t + 15 * 3_600_000}`,
        );
      }
      if (buf.length >= 10_000) await flush();
    }
    if (p % 1000 === 999)
      log(`  ${p + 1} patients, ${points} points, ${Math.round(points / ((performance.now() - t0) / 1000))} points/s`);
  }
  await flush();
  await Promise.all(pending);
  const seedS = (performance.now() - t0) / 1000;
  const queries = boardQueries('patient').filter((q) => q.datasource === 'influxdb');
  const now = new Date();
  const perQuery = new Map<string, number[]>();
  async function loadBoard(
    patient: string,
    rangeDays: number,
    interval: string,
  ): Promise<{ ms: number; empty: number }> {
    const ctx = {
      from: new Date(now.getTime() - rangeDays * DAY),
      to: now,
      interval,
      variables: { patient: { value: patient } },
      user: { login: 'admin' },
    } as QueryContext;
    const t = performance.now();
    const results = await Promise.all(
      queries.map(async (q) => {
        const tq = performance.now();
        const r = await runInflux(q, ctx, INFLUX_URL, db);
        const key = `${q.id} (${rangeDays} d)`;
        perQuery.set(key, [...(perQuery.get(key) ?? []), performance.now() - tq]);
        return r;
      }),
    );
    return { ms: performance.now() - t, empty: results.filter(isEmpty).length };
  }
  const sample = Array.from({ length: args.samples }, () =>
    pid(Math.floor(rng.next() * Math.max(1, args['full-patients']))),
  );
  const timings: Record<string, number[]> = { d30: [], d365: [] };
  let emptyPanels = 0;
  await loadBoard(sample[0]!, 30, '1h'); // warm-up (index pages)
  for (const patient of sample) {
    const a = await loadBoard(patient, 30, '1h');
    const b = await loadBoard(patient, 365, '12h');
    timings.d30!.push(a.ms);
    timings.d365!.push(b.ms);
    emptyPanels = Math.max(emptyPanels, a.empty);
  }
  // the workspace patient page: one trends request per metric, all at once, as patient.js does
  const trends = new Trends(store);
  async function loadWorkspace(patient: string, days: number): Promise<{ ms: number; points: number }> {
    const t = performance.now();
    const res = await Promise.all(
      WORKSPACE_TREND_METRICS.map((m) => trends.dailySummary(patient, m, days, new Date())),
    );
    return { ms: performance.now() - t, points: res.reduce((a, d) => a + d.length, 0) };
  }
  const workspace: Record<string, number[]> = { d30: [], d365: [] };
  let workspaceDays365 = 0;
  await loadWorkspace(sample[0]!, 30); // warm-up
  for (const patient of sample) {
    workspace.d30!.push((await loadWorkspace(patient, 30)).ms);
    const y = await loadWorkspace(patient, 365);
    workspace.d365!.push(y.ms);
    workspaceDays365 = Math.max(workspaceDays365, y.points);
  }
  const r = (x: number) => Math.round(x * 10) / 10;
  const pct = (xs: number[], q: number) =>
    r(
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      ),
    );
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s.at(-1) ?? 0) };
  };
  const series = await influxQuery('SHOW SERIES CARDINALITY', db).catch(() => null);
  report('dashboard-queries', {
    board30dMs: stat(timings.d30!),
    board30dP95Ms: r(
      percentile(
        [...timings.d30!].sort((a, b) => a - b),
        95,
      ),
    ),
    board365dP95Ms: r(
      percentile(
        [...timings.d365!].sort((a, b) => a - b),
        95,
      ),
    ),
    board365dMs: stat(timings.d365!),
    influxQueriesPerBoard: queries.length,
    // GET /api/patients/:id/trends for every metric of the workspace patient page, together
    workspaceTrends30dMs: { p50: pct(workspace.d30!, 50), p95: pct(workspace.d30!, 95) },
    workspaceTrends365dMs: { p50: pct(workspace.d365!, 50), p95: pct(workspace.d365!, 95) },
    workspaceTrendRequestsPerPage: WORKSPACE_TREND_METRICS.length,
    workspaceDailyPointsPerPage365d: workspaceDays365,
    // the queries that take longest (median over the samples, while the board's other queries run beside them)
    slowestQueriesMedianMs: Object.fromEntries(
      [...perQuery]
        .map(
          ([k, v]) =>
            [
              k,
              r(
                percentile(
                  [...v].sort((a, b) => a - b),
                  50,
                ),
              ),
            ] as const,
        )
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4),
    ),
    emptyQueriesOnFullPatient30d: emptyPanels,
    patients: args.patients,
    days: args.days,
    shardDurations: args.shards === 'hub' ? SHARD_DURATIONS : 'InfluxDB default (7 days)',
    fullPatients: args['full-patients'],
    points,
    seriesCardinality: Number(series?.results[0]?.series?.[0]?.values[0]?.[0] ?? NaN) || null,
    seedS: r(seedS),
    rollup: 'vigil_daily written with the seed (the continuous query result of one reading per metric and day)',
    seedPointsPerSecond: Math.round(points / seedS),
    samples: args.samples,
    queriesFrom:
      'dashboards/boards/patient.ts via test/dashboards/board-queries.ts (InfluxDB panels; the PostgreSQL panels read small grafana.* views)',
    loadAverage1m: loadAverage(),
  });
} finally {
  forget();
  await store.close();
  await influxQuery(`DROP DATABASE "${db}"`).catch(() => {});
  await influxd.stop();
}
