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
