import { InfluxDB, escape, type IPoint, type IPoolOptions } from 'influx';
import { METRIC_NAMES, type MetricName } from '../../../contract';
import { WriteBatcher, type BatcherEvents, type BatcherOptions } from './write-batcher';

/**
 * InfluxDB time-series schema (docs/ingest.md):
 *   retention policy vigil_raw (DEFAULT), one measurement per canonical metric name
 *   tags        = patient (pseudonymous id), gateway, device (BLE address), driver
 *   fields      = value (always float: a field type never changes), reading_id (string)
 *   time        = measuredAt (UTC, ms precision)
 * A point's identity is measurement + tags + time, so re-writing a reading is idempotent.
 * Rollups (pre-aggregated series the boards, the workspace and trend rules read instead of raw
 * points, docs/ingest.md "Rollups"): retention policies vigil_daily (one point per UTC day) and
 * vigil_hourly (one per hour), same measurement names, tag patient, fields mean/min/max/sum
 * (float) and count (integer), filled by the continuous queries vigil_daily_aggregates and
 * vigil_hourly_aggregates (InfluxDB 1.x) and, for readings older than their resample window,
 * by backfillDaily(). Moving means (7-day) are read from the daily means (trends.ts).
 */
/** Gateway heartbeat telemetry (fleet board): tag gateway; float fields queue_depth, queue_bytes, uptime_s. */
export const HEARTBEAT_MEASUREMENT = 'gateway_heartbeat';
export const RAW_RP = 'vigil_raw';
export const DAILY_RP = 'vigil_daily';
export const DAILY_CQ = 'vigil_daily_aggregates';
export const HOURLY_RP = 'vigil_hourly';
export const HOURLY_CQ = 'vigil_hourly_aggregates';
/** The CQ recomputes the last days every hour, so readings flushed late by a gateway are counted. */
export const DAILY_CQ_RESAMPLE = { every: '1h', for: '3d' } as const;
/** Same window as the daily CQ, so the hub's re-aggregation of late readings covers both rollups. */
export const HOURLY_CQ_RESAMPLE = DAILY_CQ_RESAMPLE;
const NO_POOL_BACKOFF: NonNullable<IPoolOptions['backoff']> = {
  getDelay: () => 0,
  next: () => NO_POOL_BACKOFF,
  reset: () => NO_POOL_BACKOFF,
};

/** Readings older than this are outside the CQ's window: the hub re-aggregates their days. */
const LATE_AFTER_MS = 2 * 86_400_000;

export interface TimeSeriesOptions {
  username?: string | undefined;
  password?: string | undefined;
  batch?: { maxPoints: number; flushIntervalMs: number };
  retry?: { initialDelayMs: number; maxDelayMs: number; giveUpAfterMs: number };
  manageSchema?: 'auto' | 'off';
  rawRetention?: string;
  dailyRetention?: string;
  hourlyRetention?: string;
  /** false: leave each retention policy's shard duration to InfluxDB (7 days); default true: SHARD_DURATIONS */
  longShards?: boolean;
}

/**
 * Shard group duration per retention policy. InfluxDB 1.x picks 7 days for any policy longer than
 * 6 months, and a query opens every shard its range covers: a year of the patient board touched 53
 * shards per query. InfluxDB's guidance (docs, "Shard group duration management": at least 1 000
 * points per series per shard group, about twice the longest typical query range) calls for longer
 * ones here: the daily rollup holds one point per patient, metric and day (7 per shard group of a
 * week), raw readings a few per day. A policy keeps its data up to one shard duration beyond its
 * retention (a whole shard group is dropped at once): 4 weeks on 5 years, 26 weeks on 10 years.
 */
export const SHARD_DURATIONS = { raw: '4w', daily: '26w', hourly: '4w' } as const;

const HOURS_PER_UNIT = { h: 1, d: 24, w: 168 } as const;

/**
 * The shard duration to ask for a policy of this retention: `preferred` when the retention is
 * infinite or at least 20 times longer (so data outlives its retention by at most 5 %), else none
 * (InfluxDB's own choice, never longer than the retention).
 */
export function shardDurationFor(retention: string, preferred: string): string | undefined {
  if (retention === 'INF') return preferred;
  const hours = (d: string) => {
    const m = /^(\d+)([hdw])$/.exec(d);
    if (!m) throw new Error(`INFLUX_BAD_DURATION: ${d}`);
    return Number(m[1]) * HOURS_PER_UNIT[m[2] as keyof typeof HOURS_PER_UNIT];
  };
  return hours(retention) >= 20 * hours(preferred) ? preferred : undefined;
}

export interface StoredPoint {
  readingId: string;
  patientId: string;
  gatewayId: string;
  deviceAddress: string;
  driver: string;
  metric: MetricName;
  value: number;
  measuredAt: Date;
}

export interface SeriesRow {
  metric: MetricName;
  time: string;
  value: number;
  readingId: string;
  device: string;
}

export interface DailyAggregate {
  day: string;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export class TimeSeriesStore {
  readonly influx: InfluxDB;
  private readonly batcher: WriteBatcher<IPoint>;
  /** live readings' writes: not queued behind the bulk writes of a backlog being drained */
  private readonly liveBatcher: WriteBatcher<IPoint>;
  /** gateway heartbeats, gathered a second at a time (writeTelemetry) */
  private readonly telemetryBatcher: WriteBatcher<IPoint>;
  /** RP the hub writes to: vigil_raw when the hub manages the schema on 1.x, else the default mapping */
  private writeRp: string | undefined;
  /** server version from /ping, known after ensureDatabase() */
  serverVersion = '';

  constructor(
    url: string,
    readonly database: string,
    private readonly opts: TimeSeriesOptions = {},
    private readonly events: BatcherEvents & { onBackfillFailed?(err: Error): void } = {},
  ) {
    const u = new URL(url);
    this.influx = new InfluxDB({
      host: u.hostname,
      port: Number(u.port || 8086),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database,
      ...(opts.username ? { username: opts.username, password: opts.password ?? '' } : {}),
      // node-influx would disable an unreachable host for up to 10 s of its own backoff, delaying
      // recovery: the WriteBatcher owns retries and backoff, so the pool never disables the host
      pool: { maxRetries: 0, requestTimeout: 10_000, backoff: NO_POOL_BACKOFF },
    });
    const batcherOpts: BatcherOptions = {
      maxPoints: opts.batch?.maxPoints ?? 10_000,
      flushIntervalMs: opts.batch?.flushIntervalMs ?? 10,
      initialDelayMs: opts.retry?.initialDelayMs ?? 100,
      maxDelayMs: opts.retry?.maxDelayMs ?? 2000,
      giveUpAfterMs: opts.retry?.giveUpAfterMs ?? 60_000,
      // two writes in flight: measured faster than one on InfluxDB 1.x (bench/README.md)
      concurrency: 2,
    };
    this.batcher = new WriteBatcher((points) => this.writeNow(points), batcherOpts, events);
    this.liveBatcher = new WriteBatcher(
      (points) => this.writeNow(points),
      { ...batcherOpts, flushIntervalMs: 0, concurrency: 1 },
      events,
    );
    // gateway heartbeats: a point per box per minute, telemetry rather than care data. Written one
    // request each, a reconnect storm's 10 000 boxes made InfluxDB answer 500 (bench/README.md,
    // session 8); gathered for a second they are one request, given up after 10 s of failures
    this.telemetryBatcher = new WriteBatcher(
      (points) => this.writeNow(points),
      { ...batcherOpts, flushIntervalMs: 1000, concurrency: 1, giveUpAfterMs: 10_000 },
      events,
    );
  }

  /**
   * Creates the database, the retention policies and the daily-aggregate continuous query
   * (all idempotent, safe from several hub instances at once). InfluxDB 2.x/3.x answer the
   * 1.x write/query API but not these statements: there the operator provisions buckets,
   * DBRP mappings and a task (docs/ingest.md), and the hub only checks it can reach the server.
   */
  async ensureDatabase(): Promise<void> {
    const hosts = await this.influx.ping(5000);
    if (!hosts.some((h) => h.online))
      throw new Error(`INFLUX_UNAVAILABLE: no answer from ${hosts.map((h) => h.url.host ?? '?').join(', ')}`);
    this.serverVersion = hosts[0]?.version ?? '';
    const v1 = /^v?1\./.test(this.serverVersion);
    if ((this.opts.manageSchema ?? 'auto') === 'off' || !v1) return;
    await this.influx.createDatabase(this.database);
    const long = this.opts.longShards ?? true;
    const policies = [
      { name: RAW_RP, retention: this.opts.rawRetention, isDefault: true, shard: SHARD_DURATIONS.raw },
      { name: DAILY_RP, retention: this.opts.dailyRetention, isDefault: false, shard: SHARD_DURATIONS.daily },
      { name: HOURLY_RP, retention: this.opts.hourlyRetention, isDefault: false, shard: SHARD_DURATIONS.hourly },
    ];
    for (const p of policies)
      await this.ensureRetentionPolicy(p.name, p.retention ?? 'INF', p.isDefault, long ? p.shard : undefined);
    await this.ensureDailyCq('1d');
    await this.ensureDailyCq('1h');
    this.writeRp = RAW_RP;
  }

  /**
   * Always states the shard duration (0s: InfluxDB's own choice for the retention), so lowering a
   * retention below an earlier shard duration is accepted. Applies to shard groups created from
   * now on: existing ones keep theirs.
   */
  private async ensureRetentionPolicy(
    name: string,
    duration: string,
    isDefault: boolean,
    preferredShard: string | undefined,
  ): Promise<void> {
    const existing = (await this.influx.showRetentionPolicies(this.database)).find((rp) => rp.name === name);
    const verb = existing ? 'ALTER' : 'CREATE';
    const shard = (preferredShard && shardDurationFor(duration, preferredShard)) || '0s';
    await this.exec(
      `${verb} RETENTION POLICY ${escape.quoted(name)} ON ${escape.quoted(this.database)} DURATION ${duration} REPLICATION 1` +
        ` SHARD DURATION ${shard}${isDefault ? ' DEFAULT' : ''}`,
    );
  }

  /**
   * The aggregation statement of a rollup (`1d` into vigil_daily, `1h` into vigil_hourly): the CQ
   * body, or a backfill of the UTC days in a range. fill(none): buckets without readings (most
   * hours of most patients) are neither computed into points nor written.
   */
  dailySelect(range?: { from: Date; to: Date }, every: '1d' | '1h' = '1d'): string {
    const db = escape.quoted(this.database);
    const where = range
      ? ` WHERE time >= ${dayStart(range.from).getTime()}ms AND time < ${dayStart(range.to).getTime() + 86_400_000}ms`
      : '';
    const into = every === '1d' ? DAILY_RP : HOURLY_RP;
    return (
      'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max", count("value") AS "count", sum("value") AS "sum" ' +
      `INTO ${db}.${escape.quoted(into)}.:MEASUREMENT FROM ${db}.${escape.quoted(RAW_RP)}./.*/${where} GROUP BY time(${every}), "patient" fill(none)`
    );
  }

  /** The continuous query as created on InfluxDB 1.x (daily, or hourly). */
  dailyCq(every: '1d' | '1h' = '1d'): string {
    const name = every === '1d' ? DAILY_CQ : HOURLY_CQ;
    const resample = every === '1d' ? DAILY_CQ_RESAMPLE : HOURLY_CQ_RESAMPLE;
    return (
      `CREATE CONTINUOUS QUERY ${escape.quoted(name)} ON ${escape.quoted(this.database)} ` +
      `RESAMPLE EVERY ${resample.every} FOR ${resample.for} BEGIN ${this.dailySelect(undefined, every)} END`
    );
  }

  private async ensureDailyCq(every: '1d' | '1h'): Promise<void> {
    const name = every === '1d' ? DAILY_CQ : HOURLY_CQ;
    try {
      // idempotent when the same text exists
      await this.exec(this.dailyCq(every));
    } catch (e) {
      // same name, other text (an older hub version): replace it
      if (!/already exists/.test((e as Error).message)) throw e;
      await this.exec(`DROP CONTINUOUS QUERY ${escape.quoted(name)} ON ${escape.quoted(this.database)}`);
      await this.exec(this.dailyCq(every));
    }
  }

  private async exec(q: string): Promise<void> {
    const raw = (await this.influx.queryRaw(q, { database: this.database })) as { results: { error?: string }[] };
    const err = raw.results.find((r) => r.error)?.error;
    if (err) throw new Error(`INFLUX_QUERY_FAILED: ${err}`);
  }

  /**
   * Recomputes the daily aggregates of the UTC days in [from, to] (readings older than the CQ's
   * resample window, a restored backup, InfluxDB 2.x without the task). Idempotent.
   */
  async backfillDaily(from: Date, to: Date, rollups: readonly ('1d' | '1h')[] = ['1d', '1h']): Promise<void> {
    for (const every of rollups) await this.exec(this.dailySelect({ from, to }, every));
  }

  /** A patient's daily aggregates of one metric, oldest first (trend rules, dashboards). */
  async dailyAggregates(patientId: string, metric: MetricName, from: Date, to: Date): Promise<DailyAggregate[]> {
    const q =
      `SELECT "mean", "min", "max", "count" FROM ${escape.quoted(DAILY_RP)}.${escape.quoted(metric)} ` +
      `WHERE "patient" = ${escape.stringLit(patientId)} AND time >= ${dayStart(from).getTime()}ms AND time <= ${to.getTime()}ms ORDER BY time ASC`;
    const rows = await this.influx.query<{ time: Date; mean: number; min: number; max: number; count: number }>(q, {
      database: this.database,
    });
    return rows.map((r) => ({
      day: r.time.toISOString().slice(0, 10),
      mean: r.mean,
      min: r.min,
      max: r.max,
      count: r.count,
    }));
  }

  /**
   * Batched, retried write: resolves once every point is in InfluxDB (see WriteBatcher). `live`:
   * just-measured readings, written at once through their own writer (alert latency).
   */
  write(points: readonly StoredPoint[], opts: { live?: boolean } = {}): Promise<void> {
    const written = (opts.live ? this.liveBatcher : this.batcher).write(points.map(toPoint));
    // readings older than the CQ's resample window (a gateway flushing days of readings after an
    // outage) are not seen by the CQ any more: their days are re-aggregated here
    const cutoff = Date.now() - LATE_AFTER_MS;
    const late = points.filter((p) => p.measuredAt.getTime() < cutoff);
    if (late.length && this.writeRp)
      void written.then(
        () => this.backfillLater(late.map((p) => dayStart(p.measuredAt).getTime())),
        () => {},
      );
    return written;
  }

  private readonly lateDays = new Set<number>();
  private backfillTimer: NodeJS.Timeout | undefined;
  /** when the oldest late day still waiting was noted (the pass runs backfillMaxDelayMs after it at the latest) */
  private backfillSince: number | undefined;
  private backfillRunning: Promise<boolean> | undefined;

  /**
   * Quiet time before late days are re-aggregated: the pass waits until no late reading was
   * written for this long. Each pass recomputes whole UTC days of every patient (both rollups), so
   * while a reconnect storm drains a week of backlogs a pass every few seconds re-read the same
   * days again and again, competing with the writes (bench/README.md, session 9); one pass once the
   * stream quiets reads each day once.
   */
  backfillDelayMs = 10_000;
  /** ...but a steady stream of late readings still gets its days re-aggregated this often */
  backfillMaxDelayMs = 120_000;

  private backfillLater(days: number[]): void {
    for (const d of days) this.lateDays.add(d);
    this.scheduleBackfill();
  }

  private scheduleBackfill(): void {
    // a pass under way schedules the days noted meanwhile when it ends
    if (this.backfillRunning || this.lateDays.size === 0) return;
    const now = Date.now();
    this.backfillSince ??= now;
    const at = Math.min(now + this.backfillDelayMs, this.backfillSince + this.backfillMaxDelayMs);
    if (this.backfillTimer) clearTimeout(this.backfillTimer);
    this.backfillTimer = setTimeout(() => void this.runBackfill(), Math.max(0, at - now));
    this.backfillTimer.unref();
  }

  private async runBackfill(): Promise<void> {
    if (this.backfillTimer) clearTimeout(this.backfillTimer);
    this.backfillTimer = undefined;
    this.backfillSince = undefined;
    const days = [...this.lateDays].sort((a, b) => a - b);
    this.lateDays.clear();
    this.backfillRunning = this.backfillPass(days);
    const done = await this.backfillRunning;
    this.backfillRunning = undefined;
    if (done) this.scheduleBackfill();
  }

  /** Re-aggregates `days` (sorted); false when InfluxDB failed (the days left wait for the next late write). */
  private async backfillPass(days: readonly number[]): Promise<boolean> {
    // consecutive days in one statement per rollup, at most a week each (bounded work per query)
    for (let i = 0; i < days.length;) {
      let j = i;
      while (j + 1 < days.length && days[j + 1] === (days[j] ?? 0) + 86_400_000 && j - i < 6) j++;
      try {
        await this.backfillDaily(new Date(days[i] ?? 0), new Date(days[j] ?? 0));
      } catch (e) {
        for (const rest of days.slice(i)) this.lateDays.add(rest);
        this.events.onBackfillFailed?.(e as Error);
        return false;
      }
      i = j + 1;
    }
    return true;
  }

  /** Telemetry points (gateway heartbeats): gathered for up to a second, then written together. */
  writeTelemetry(points: IPoint[]): Promise<void> {
    return this.telemetryBatcher.write(points);
  }

  /** One direct write attempt. */
  async writeNow(points: IPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.influx.writePoints(points, {
      precision: 'ms',
      database: this.database,
      ...(this.writeRp ? { retentionPolicy: this.writeRp } : {}),
    });
  }

  /** Points waiting in the write buffer. */
  get backlog(): number {
    return this.batcher.backlog + this.liveBatcher.backlog + this.telemetryBatcher.backlog;
  }

  /** Flushes the buffer and refuses further writes. */
  async close(): Promise<void> {
    await Promise.all([this.batcher.close(), this.liveBatcher.close(), this.telemetryBatcher.close()]);
    // late days still waiting for their quiet time are re-aggregated now: nothing else would
    // (the CQ covers the last 3 days only). A pass that fails is reported and given up
    await this.backfillRunning;
    if (this.backfillTimer || this.lateDays.size) await this.runBackfill();
    if (this.backfillTimer) clearTimeout(this.backfillTimer);
  }

  /** A patient's readings, oldest first. Ids are validated upstream and escaped here (no InfluxQL injection). */
  async patientSeries(
    patientId: string,
    opts: { metrics?: MetricName[]; from?: Date; to?: Date; limit?: number } = {},
  ): Promise<SeriesRow[]> {
    const metrics = opts.metrics?.length ? opts.metrics : METRIC_NAMES;
    const from = opts.from ?? new Date(Date.now() - 30 * 86_400_000);
    const to = opts.to ?? new Date(Date.now() + 86_400_000);
    const q =
      `SELECT "value", "reading_id", "device" FROM ${metrics.map((m) => escape.quoted(m)).join(', ')} ` +
      `WHERE "patient" = ${escape.stringLit(patientId)} AND time >= ${from.getTime()}ms AND time <= ${to.getTime()}ms ` +
      `ORDER BY time ASC LIMIT ${Math.min(opts.limit ?? 10_000, 100_000)}`;
    const raw = (await this.influx.queryRaw(q, { database: this.database, precision: 'ms' as never })) as {
      results: { series?: { name: string; columns: string[]; values: unknown[][] }[]; error?: string }[];
    };
    const rows: SeriesRow[] = [];
    for (const result of raw.results) {
      if (result.error) throw new Error(`INFLUX_QUERY_FAILED: ${result.error}`);
      for (const s of result.series ?? []) {
        const idx = (c: string) => s.columns.indexOf(c);
        for (const v of s.values) {
          rows.push({
            metric: s.name as MetricName,
            time: new Date(v[idx('time')] as number).toISOString(),
            value: v[idx('value')] as number,
            readingId: v[idx('reading_id')] as string,
            device: v[idx('device')] as string,
          });
        }
      }
    }
    return rows.sort((a, b) => a.time.localeCompare(b.time));
  }

  async ping(): Promise<boolean> {
    try {
      const hosts = await this.influx.ping(2000);
      return hosts.some((h) => h.online);
    } catch {
      return false;
    }
  }
}

function toPoint(p: StoredPoint): IPoint {
  return {
    measurement: p.metric,
    tags: { patient: p.patientId, gateway: p.gatewayId, device: p.deviceAddress, driver: p.driver },
    // always a float field: node-influx writes JS numbers without the integer suffix
    fields: { value: p.value, reading_id: p.readingId },
    timestamp: p.measuredAt,
  };
}

function dayStart(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 86_400_000) * 86_400_000);
}
