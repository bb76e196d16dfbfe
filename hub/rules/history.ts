import { named } from '../storage/postgres/named';
import type pg from 'pg';
import type { MetricName, TimeTrust } from '../../contract';
import { DAY } from './clock';

/** How far before and after a measurement (ms) the rules read a metric. */
export interface Reach {
  before: number;
  after: number;
}

export interface HistoryRow {
  readingId: string;
  metric: MetricName;
  value: number;
  measuredAt: Date;
  deviceAddress: string;
  /** null for readings filed before time trust was recorded */
  timeTrust: TimeTrust | null;
  receivedAt: Date;
}

/**
 * A patient's stored history, read from reading_ledger (PostgreSQL): the durable record every hub
 * instance shares, so a restarted or second instance evaluates windowed rules to the same result.
 * One History lives for one evaluation pass and caches what it loaded (one query per patient x metric).
 */
export class History {
  private readonly cache = new Map<string, { from: number; to: number; rows: HistoryRow[] }>();
  /**
   * The time of the measurement being evaluated (ms), set by the engine around each evaluation:
   * how far before and after it the rules read each metric is recorded in `reach`.
   */
  anchor: number | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** per metric, the farthest the rules have read before and after a measurement (ms) */
    private readonly reach?: Map<MetricName, Reach>,
  ) {}

  /** Readings of `metrics` with from <= measuredAt <= to, oldest first. */
  async readings(patientId: string, metrics: readonly MetricName[], from: Date, to: Date): Promise<HistoryRow[]> {
    const out: HistoryRow[] = [];
    if (this.reach && this.anchor !== undefined) {
      const before = Math.max(0, this.anchor - from.getTime());
      const after = Math.max(0, to.getTime() - this.anchor);
      for (const metric of metrics) {
        const r = this.reach.get(metric);
        if (!r) this.reach.set(metric, { before, after });
        else {
          r.before = Math.max(r.before, before);
          r.after = Math.max(r.after, after);
        }
      }
    }
    for (const metric of metrics) {
      const key = `${patientId}|${metric}`;
      let c = this.cache.get(key);
      if (!c || c.from > from.getTime() || c.to < to.getTime()) {
        const lo = Math.min(from.getTime(), c?.from ?? Infinity);
        const hi = Math.max(to.getTime(), c?.to ?? -Infinity);
        const { rows } = await this.pool.query<{
          reading_id: string;
          value: number;
          measured_at: Date;
          device_address: string;
          time_trust: TimeTrust | null;
          received_at: Date;
        }>(
          named(`SELECT reading_id, value, measured_at, device_address, time_trust, received_at FROM reading_ledger
           WHERE patient_id = $1 AND metric = $2 AND measured_at >= $3 AND measured_at <= $4 AND NOT memory_copy
           ORDER BY measured_at, reading_id`),
          [patientId, metric, new Date(lo), new Date(hi)],
        );
        c = {
          from: lo,
          to: hi,
          rows: rows.map((r) => ({
            readingId: r.reading_id,
            metric,
            value: r.value,
            measuredAt: r.measured_at,
            deviceAddress: r.device_address,
            timeTrust: r.time_trust,
            receivedAt: r.received_at,
          })),
        };
        this.cache.set(key, c);
      }
      // rows are in time order: the window starts at a binary search, not a scan of every row
      // (a group's rules ask for windows of the same preloaded month many times)
      const lo = from.getTime();
      const hi = to.getTime();
      const rows = c.rows;
      let a = 0;
      let b = rows.length;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if ((rows[mid]?.measuredAt.getTime() ?? Infinity) < lo) a = mid + 1;
        else b = mid;
      }
      for (let i = a; i < rows.length; i++) {
        const r = rows[i];
        if (!r || r.measuredAt.getTime() > hi) break;
        out.push(r);
      }
    }
    return metrics.length > 1 ? out.sort((a, b) => a.measuredAt.getTime() - b.measuredAt.getTime()) : out;
  }

  /**
   * Ingest of a group of batches: the windowed history of every patient x metric of the group in
   * one query (instead of one per patient x metric as rules ask), seeding the cache `readings` reads.
   * Each patient x metric is read over its own window: from the patient's first measurement of the
   * group minus what the rules were seen to read of the metric before a measurement (`reach`,
   * learnt by the engine; else the default), to its last plus what they read after. A rule reading
   * beyond it reads on its own (a cache miss, one query), so the results never depend on it.
   */
  async preloadReadings(
    /** per patient, the first and last measurement times of the group (ms) */
    patients: ReadonlyMap<string, { first: number; last: number }>,
    metrics: readonly MetricName[],
    defaults: Reach,
  ): Promise<void> {
    if (patients.size === 0 || metrics.length === 0) return;
    const windows: { patientId: string; metric: MetricName; from: number; to: number }[] = [];
    for (const [patientId, t] of patients)
      for (const metric of metrics) {
        const r = this.reach?.get(metric) ?? defaults;
        windows.push({ patientId, metric, from: t.first - r.before, to: t.last + r.after });
      }
    const { rows } = await this.pool.query<{
      patient_id: string;
      metric: MetricName;
      reading_id: string;
      value: number;
      ms: string;
      device_address: string;
      time_trust: TimeTrust | null;
      received_at: Date;
    }>(
      named(`SELECT l.patient_id, l.metric, l.reading_id, l.value, (extract(epoch FROM l.measured_at) * 1000)::bigint::text AS ms,
         l.device_address, l.time_trust, l.received_at
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS w(patient_id, metric, lo, hi)
       JOIN reading_ledger l ON l.patient_id = w.patient_id AND l.metric = w.metric AND l.measured_at >= w.lo AND l.measured_at <= w.hi
      WHERE NOT l.memory_copy
      ORDER BY l.measured_at, l.reading_id`),
      [
        windows.map((w) => w.patientId),
        windows.map((w) => w.metric),
        windows.map((w) => new Date(w.from)),
        windows.map((w) => new Date(w.to)),
      ],
    );
    const fresh = new Map<string, { from: number; to: number; rows: HistoryRow[] }>();
    for (const w of windows) fresh.set(`${w.patientId}|${w.metric}`, { from: w.from, to: w.to, rows: [] });
    for (const r of rows)
      fresh.get(`${r.patient_id}|${r.metric}`)?.rows.push({
        readingId: r.reading_id,
        metric: r.metric,
        value: r.value,
        measuredAt: new Date(Number(r.ms)),
        deviceAddress: r.device_address,
        timeTrust: r.time_trust,
        receivedAt: r.received_at,
      });
    for (const [k, v] of fresh) this.cache.set(k, v);
  }

  /** Per UTC day (key = day start ms) sum or mean of a metric, over [fromDay, toDay). Days without data are absent. */
  async daily(
    patientId: string,
    metric: MetricName,
    fromDay: number,
    toDay: number,
    agg: 'sum' | 'mean',
  ): Promise<Map<number, number>> {
    const rows = await this.readings(patientId, [metric], new Date(fromDay), new Date(toDay - 1));
    const acc = new Map<number, { s: number; n: number }>();
    for (const r of rows) {
      const d = Math.floor(r.measuredAt.getTime() / DAY) * DAY;
      const a = acc.get(d) ?? { s: 0, n: 0 };
      a.s += r.value;
      a.n += 1;
      acc.set(d, a);
    }
    return new Map([...acc].map(([d, a]) => [d, agg === 'sum' ? a.s : a.s / a.n]));
  }

  private daysCache: { from: number; to: number; byPatient: Map<string, number> } | undefined;
  private devicesCache: Map<string, { address: string; driver: string | null; since: Date }[]> | undefined;

  /**
   * Scheduler pass over many patients: one query each for the days with data and the expected
   * devices of all of them, instead of one per patient (the per-patient methods then read the cache).
   */
  async preload(patientIds: readonly string[], daysFrom: Date, daysTo: Date): Promise<void> {
    const [days, devices] = await Promise.all([
      this.pool.query<{ patient_id: string; n: string }>(
        `SELECT patient_id, count(DISTINCT date_trunc('day', measured_at AT TIME ZONE 'UTC')) n FROM reading_ledger
         WHERE patient_id = ANY($1::text[]) AND measured_at >= $2 AND measured_at <= $3 GROUP BY patient_id`,
        [patientIds, daysFrom, daysTo],
      ),
      this.pool.query<{ patient_id: string; address: string; driver: string | null; since: Date }>(
        `SELECT b.patient_id, b.address, b.driver, coalesce(l.last, b.created_at) AS since FROM device_bindings b
         LEFT JOIN LATERAL (SELECT max(received_at) AS last FROM reading_ledger r WHERE r.patient_id = b.patient_id AND r.device_address = b.address) l ON true
         WHERE b.patient_id = ANY($1::text[]) ORDER BY b.patient_id, b.address`,
        [patientIds],
      ),
    ]);
    this.daysCache = {
      from: daysFrom.getTime(),
      to: daysTo.getTime(),
      byPatient: new Map(days.rows.map((r) => [r.patient_id, Number(r.n)])),
    };
    this.devicesCache = new Map(patientIds.map((id) => [id, []]));
    for (const d of devices.rows)
      this.devicesCache.get(d.patient_id)?.push({ address: d.address, driver: d.driver, since: d.since });
  }

  /** Distinct UTC days with at least one reading of any metric in [from, to]. */
  async daysWithData(patientId: string, from: Date, to: Date): Promise<number> {
    const c = this.daysCache;
    if (c && c.from === from.getTime() && c.to === to.getTime()) return c.byPatient.get(patientId) ?? 0;
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(DISTINCT date_trunc('day', measured_at AT TIME ZONE 'UTC')) n FROM reading_ledger
       WHERE patient_id = $1 AND measured_at >= $2 AND measured_at <= $3`,
      [patientId, from, to],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Each device bound to the patient (an expected device) with the hub's reception time of its last
   * reading (or, before any, its binding time). Reception, not the device's time stamp: a cuff clock
   * days behind with no time service would otherwise look silent for ever (docs/clinical/rules.md).
   */
  async expectedDevices(patientId: string): Promise<{ address: string; driver: string | null; since: Date }[]> {
    const cached = this.devicesCache?.get(patientId);
    if (cached) return cached;
    const { rows } = await this.pool.query<{ address: string; driver: string | null; since: Date }>(
      `SELECT b.address, b.driver, coalesce((SELECT max(l.received_at) FROM reading_ledger l
                 WHERE l.patient_id = b.patient_id AND l.device_address = b.address), b.created_at) AS since
       FROM device_bindings b WHERE b.patient_id = $1 ORDER BY b.address`,
      [patientId],
    );
    return rows;
  }
}
