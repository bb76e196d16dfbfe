import { escape } from 'influx';
import type { MetricName } from '../../../contract';
import { DAILY_RP, HOURLY_RP, type TimeSeriesStore } from './timeseries';

/**
 * Trend reads for the workspace's patient page (and anything else that draws a patient's metric
 * over weeks or a year): from the rollups the hub maintains (timeseries.ts), never from raw
 * points, so a year reads 365 daily points per metric whatever the readings' frequency.
 *
 *   const trends = new Trends(timeseries);
 *   await trends.daily(patientId, 'body_weight', from, to);          // one point per UTC day
 *   await trends.hourly(patientId, 'heart_rate', from, to);          // one point per hour
 *   await trends.movingMean(patientId, 'blood_pressure_systolic', 7, from, to); // 7-day means
 *   await trends.auto(patientId, metric, from, to);                   // hourly up to 14 days, else daily
 *
 * Freshness: the rollups are computed by InfluxDB continuous queries every hour over the last
 * 3 days, and by the hub for readings that arrive later than that; the current hour can lag by
 * up to an hour (draw today's raw readings over the trend for a live view: patientSeries()).
 */
export interface TrendPoint {
  /** start of the bucket, ISO 8601 UTC */
  time: string;
  mean: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

export interface MovingMeanPoint {
  /** the UTC day the mean ends on */
  time: string;
  /** mean of the last `days` daily means up to this day (days without readings are skipped, as on the patient board) */
  value: number;
}

/** Ranges up to this length read hourly buckets in auto(); longer ones daily buckets. */
export const HOURLY_UP_TO_MS = 14 * 86_400_000;
const DAY = 86_400_000;
const HOUR = 3_600_000;

/**
 * The metrics the workspace's patient page asks GET /api/patients/:id/trends for, one request
 * each, together (hub/web/static/patient.js CHARTS): what one page load costs.
 */
export const WORKSPACE_TREND_METRICS: readonly MetricName[] = [
  'blood_pressure_systolic',
  'blood_pressure_diastolic',
  'body_weight',
  'body_temperature',
  'spo2',
  'heart_rate',
  'steps',
  'glucose',
];

/** One UTC day of a metric as the workspace's trend chart draws it (GET /api/patients/:id/trends). */
export interface DaySummary {
  /** the UTC day, YYYY-MM-DD */
  day: string;
  mean: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

/**
 * The rollups are trusted up to the start of the hour before the current one: the continuous
 * queries run at each hour boundary (RESAMPLE EVERY 1h), so the hour that just ended may not be
 * written yet for a few seconds or minutes; one more hour of margin costs a few raw points.
 */
export function rollupHorizon(now: Date): Date {
  return new Date(Math.floor(now.getTime() / HOUR) * HOUR - HOUR);
}

interface RawResult {
  results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[];
}

export class Trends {
  constructor(private readonly store: Pick<TimeSeriesStore, 'influx' | 'database'>) {}

  daily(patientId: string, metric: MetricName, from: Date, to: Date): Promise<TrendPoint[]> {
    return this.buckets(DAILY_RP, patientId, metric, new Date(Math.floor(from.getTime() / DAY) * DAY), to);
  }

  hourly(patientId: string, metric: MetricName, from: Date, to: Date): Promise<TrendPoint[]> {
    return this.buckets(HOURLY_RP, patientId, metric, new Date(Math.floor(from.getTime() / 3_600_000) * 3_600_000), to);
  }

  /** hourly buckets for ranges up to HOURLY_UP_TO_MS, daily ones beyond */
  auto(patientId: string, metric: MetricName, from: Date, to: Date): Promise<TrendPoint[]> {
    return to.getTime() - from.getTime() <= HOURLY_UP_TO_MS
      ? this.hourly(patientId, metric, from, to)
      : this.daily(patientId, metric, from, to);
  }

  /**
   * `days`-day moving mean of the daily means (the board's "7-day mean"), for the days in
   * [from, to]: the daily rollup read `days` days further back, averaged by InfluxDB.
   */
  async movingMean(
    patientId: string,
    metric: MetricName,
    days: number,
    from: Date,
    to: Date,
  ): Promise<MovingMeanPoint[]> {
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new RangeError('TRENDS_BAD_WINDOW: days 1..366');
    const start = Math.floor(from.getTime() / DAY) * DAY;
    const q =
      `SELECT moving_average("mean", ${days}) AS "value" FROM ${escape.quoted(DAILY_RP)}.${escape.quoted(metric)} ` +
      `WHERE "patient" = ${escape.stringLit(patientId)} AND time >= ${start - (days - 1) * DAY}ms AND time <= ${to.getTime()}ms`;
    const rows = await this.query(q);
    return rows
      .filter((r) => (r.time as number) >= start)
      .map((r) => ({ time: new Date(r.time as number).toISOString(), value: r.value as number }));
  }

  /**
   * The last `days` UTC days (today included) of one metric, one summary per day with readings,
   * for the patient page. Whatever the range, every figure comes from the cheapest source that is
   * complete for its span (the response is per day, so hourly buckets would give the same
   * figures as the daily rollup at 24 times the points):
   *   - whole days before the day of the rollup horizon: the daily rollup (one point per day);
   *   - from that day's start to the horizon: the hourly rollup (at most 24 points);
   *   - after the horizon (the last one to two hours, which the CQ may not have written yet):
   *     the raw readings.
   * The three spans do not overlap, so a reading is counted once; a day made of several sources
   * is merged exactly (sum and count add, min and max combine).
   */
  async dailySummary(patientId: string, metric: MetricName, days: number, now: Date): Promise<DaySummary[]> {
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new RangeError('TRENDS_BAD_WINDOW: days 1..366');
    const start = Math.floor(now.getTime() / DAY) * DAY - (days - 1) * DAY;
    const horizon = Math.max(rollupHorizon(now).getTime(), start);
    const horizonDay = Math.floor(horizon / DAY) * DAY;
    const m = escape.quoted(metric);
    const who = `"patient" = ${escape.stringLit(patientId)}`;
    const [daily, hourly, raw] = await Promise.all([
      horizonDay > start
        ? this.bucketsBetween(DAILY_RP, patientId, metric, start, horizonDay)
        : Promise.resolve<TrendPoint[]>([]),
      horizon > horizonDay
        ? this.bucketsBetween(HOURLY_RP, patientId, metric, horizonDay, horizon)
        : Promise.resolve<TrendPoint[]>([]),
      this.query(`SELECT "value" FROM ${m} WHERE ${who} AND time >= ${horizon}ms AND time <= ${now.getTime()}ms`),
    ]);
    const byDay = new Map<
      string,
      { mean: number; min: number; max: number; sum: number; count: number; parts: number }
    >();
    const add = (time: number, b: { mean: number; min: number; max: number; sum: number; count: number }) => {
      const day = new Date(Math.floor(time / DAY) * DAY).toISOString().slice(0, 10);
      const d = byDay.get(day);
      if (!d) byDay.set(day, { ...b, parts: 1 });
      else {
        d.min = Math.min(d.min, b.min);
        d.max = Math.max(d.max, b.max);
        d.sum += b.sum;
        d.count += b.count;
        d.parts++;
      }
    };
    for (const b of [...daily, ...hourly]) add(Date.parse(b.time), b);
    for (const r of raw) {
      const v = r.value as number;
      add(r.time as number, { mean: v, min: v, max: v, sum: v, count: 1 });
    }
    return [...byDay.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, d]) => ({
        day,
        // a day from one rollup point keeps the rollup's own mean; a merged day is sum / count
        mean: d.parts === 1 ? d.mean : d.sum / d.count,
        min: d.min,
        max: d.max,
        sum: d.sum,
        count: d.count,
      }));
  }

  /** buckets with start in [from, to) */
  private async bucketsBetween(
    rp: string,
    patientId: string,
    metric: MetricName,
    from: number,
    to: number,
  ): Promise<TrendPoint[]> {
    return this.buckets(rp, patientId, metric, new Date(from), new Date(to - 1));
  }

  private async buckets(
    rp: string,
    patientId: string,
    metric: MetricName,
    from: Date,
    to: Date,
  ): Promise<TrendPoint[]> {
    const q =
      `SELECT "mean", "min", "max", "sum", "count" FROM ${escape.quoted(rp)}.${escape.quoted(metric)} ` +
      `WHERE "patient" = ${escape.stringLit(patientId)} AND time >= ${from.getTime()}ms AND time <= ${to.getTime()}ms ORDER BY time ASC`;
    const rows = await this.query(q);
    return rows.map((r) => ({
      time: new Date(r.time as number).toISOString(),
      mean: r.mean as number,
      min: r.min as number,
      max: r.max as number,
      // rollups written before the sum field existed have none: mean x count is the same number
      sum: typeof r.sum === 'number' ? r.sum : (r.mean as number) * (r.count as number),
      count: r.count as number,
    }));
  }

  private async query(q: string): Promise<Record<string, unknown>[]> {
    const raw = (await this.store.influx.queryRaw(q, {
      database: this.store.database,
      precision: 'ms' as never,
    })) as RawResult;
    const out: Record<string, unknown>[] = [];
    for (const result of raw.results) {
      if (result.error) throw new Error(`INFLUX_QUERY_FAILED: ${result.error}`);
      for (const s of result.series ?? [])
        for (const v of s.values) out.push(Object.fromEntries(s.columns.map((c, i) => [c, v[i]])));
    }
    return out;
  }
}
