/**
 * InfluxDB schema managed by the hub (docs/ingest.md): retention policies, the daily-aggregate
 * continuous query, a stable float field type, and the daily aggregates used by trend rules and
 * dashboards. Real InfluxDB 1.x.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DAILY_CQ,
  DAILY_RP,
  HOURLY_RP,
  RAW_RP,
  TimeSeriesStore,
  shardDurationFor,
  type StoredPoint,
} from '../../hub/storage/influx/timeseries';
import { createTestInflux } from '../support/stores';
import { waitFor } from '../support/wait';

let influx: Awaited<ReturnType<typeof createTestInflux>>;
let store: TimeSeriesStore;

const point = (patientId: string, value: number, at: string, i: number): StoredPoint => ({
  readingId: `r${patientId}${i}`,
  patientId,
  gatewayId: 'gw-schema',
  deviceAddress: 'AA:BB:CC:DD:EE:01',
  driver: 'sim-scale',
  metric: 'body_weight',
  value,
  measuredAt: new Date(at),
});

beforeAll(async () => {
  influx = await createTestInflux('vigil_schema');
  store = new TimeSeriesStore(influx.url, influx.database, {
    rawRetention: 'INF',
    dailyRetention: 'INF',
    batch: { maxPoints: 1000, flushIntervalMs: 5 },
  });
  await store.ensureDatabase();
});

afterAll(async () => {
  await store.close();
  await influx.drop();
});

describe('InfluxDB schema', () => {
  it('creates vigil_raw (default) and vigil_daily, idempotently, also from two instances at once', async () => {
    const other = new TimeSeriesStore(influx.url, influx.database, {});
    await Promise.all([store.ensureDatabase(), other.ensureDatabase()]);
    await other.close();
    const rps = await store.influx.showRetentionPolicies(influx.database);
    expect(rps.find((r) => r.name === RAW_RP)).toMatchObject({ default: true, duration: '0s' });
    expect(rps.find((r) => r.name === DAILY_RP)).toMatchObject({ default: false, duration: '0s' });
    expect(store.serverVersion).toMatch(/^1\./);
  });

  it('applies a changed retention duration to the existing policy', async () => {
    const s = new TimeSeriesStore(influx.url, influx.database, { rawRetention: '520w' });
    await s.ensureDatabase();
    await s.close();
    const rps = await store.influx.showRetentionPolicies(influx.database);
    expect(rps.find((r) => r.name === RAW_RP)).toMatchObject({ default: true, duration: '87360h0m0s' });
    await store.ensureDatabase(); // back to INF
    expect((await store.influx.showRetentionPolicies(influx.database)).find((r) => r.name === RAW_RP)?.duration).toBe(
      '0s',
    );
  });

  it('gives each policy its long shard groups, and lets InfluxDB choose when the retention is too short for them', async () => {
    const shards = async () =>
      Object.fromEntries(
        (await store.influx.showRetentionPolicies(influx.database)).map((r) => [r.name, r.shardGroupDuration]),
      );
    // INF: SHARD_DURATIONS (raw 4w, daily 26w, hourly 4w)
    expect(await shards()).toMatchObject({ [RAW_RP]: '672h0m0s', [DAILY_RP]: '4368h0m0s', [HOURLY_RP]: '672h0m0s' });
    // a 30-day raw retention: 4 weeks would keep data up to twice as long, so InfluxDB's own (1 day)
    const s = new TimeSeriesStore(influx.url, influx.database, {
      rawRetention: '30d',
      dailyRetention: 'INF',
      hourlyRetention: '520w',
    });
    await s.ensureDatabase();
    await s.close();
    expect(await shards()).toMatchObject({ [RAW_RP]: '24h0m0s', [DAILY_RP]: '4368h0m0s', [HOURLY_RP]: '672h0m0s' });
    await store.ensureDatabase(); // back to INF, and to 4 weeks
    expect((await shards())[RAW_RP]).toBe('672h0m0s');
    expect(shardDurationFor('260w', '4w')).toBe('4w');
    expect(shardDurationFor('52w', '4w')).toBeUndefined();
    expect(() => shardDurationFor('1y', '4w')).toThrow(/INFLUX_BAD_DURATION/);
  });

  it('installs the daily-aggregate continuous query', async () => {
    const raw = (await store.influx.queryRaw('SHOW CONTINUOUS QUERIES')) as {
      results: { series?: { name: string; values?: string[][] }[] }[];
    };
    const mine = raw.results[0]!.series!.find((s) => s.name === influx.database)!;
    const [name, text] = mine.values![0]!;
    expect(name).toBe(DAILY_CQ);
    expect(text).toContain('RESAMPLE EVERY 1h FOR 3d');
    expect(text).toContain(
      `INTO ${influx.database}.${DAILY_RP}.:MEASUREMENT FROM ${influx.database}.${RAW_RP}./.*/ GROUP BY time(1d), patient`,
    );
    expect(text).toMatch(/mean\(value\) AS mean, min\(value\) AS min, max\(value\) AS max, count\(value\) AS count/);
  });

  it('writes value as a float field even for whole numbers, and re-writing a reading is idempotent', async () => {
    await store.write([point('pa', 70, '2026-01-05T07:00:00Z', 0)]);
    await store.write([point('pa', 70, '2026-01-05T07:00:00Z', 0)]);
    const keys = await store.influx.query<{ fieldKey: string; fieldType: string }>(
      `SHOW FIELD KEYS FROM "body_weight"`,
    );
    expect(keys.find((k) => k.fieldKey === 'value')?.fieldType).toBe('float');
    const n = await store.influx.query<{ count: number }>(
      `SELECT count("value") AS "count" FROM "${RAW_RP}"."body_weight" WHERE "patient" = 'pa'`,
    );
    expect(n[0]?.count).toBe(1);
  });

  it('batches concurrent writes and computes daily mean/min/max/count per patient (the CQ statement, as a backfill)', async () => {
    await Promise.all([
      store.write([point('pa', 71.5, '2026-01-05T19:00:00Z', 1), point('pa', 72.5, '2026-01-05T21:00:00Z', 2)]),
      store.write([point('pa', 80, '2026-01-06T07:00:00Z', 3)]),
      store.write([point('pb', 60, '2026-01-05T08:00:00Z', 4), point('pb', 62, '2026-01-05T09:00:00Z', 5)]),
    ]);
    await store.backfillDaily(new Date('2026-01-05T00:00:00Z'), new Date('2026-01-06T00:00:00Z'));
    const pa = await store.dailyAggregates(
      'pa',
      'body_weight',
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-01-10T00:00:00Z'),
    );
    expect(pa).toEqual([
      { day: '2026-01-05', mean: 71.33333333333333, min: 70, max: 72.5, count: 3 },
      { day: '2026-01-06', mean: 80, min: 80, max: 80, count: 1 },
    ]);
    const pb = await store.dailyAggregates(
      'pb',
      'body_weight',
      new Date('2026-01-01T00:00:00Z'),
      new Date('2026-01-10T00:00:00Z'),
    );
    expect(pb).toEqual([{ day: '2026-01-05', mean: 61, min: 60, max: 62, count: 2 }]);
    // a late reading, then the backfill again: the aggregate is replaced, not duplicated
    await store.write([point('pb', 64, '2026-01-05T10:00:00Z', 6)]);
    await store.backfillDaily(new Date('2026-01-05T00:00:00Z'), new Date('2026-01-05T00:00:00Z'));
    expect(
      await store.dailyAggregates(
        'pb',
        'body_weight',
        new Date('2026-01-01T00:00:00Z'),
        new Date('2026-01-10T00:00:00Z'),
      ),
    ).toEqual([{ day: '2026-01-05', mean: 62, min: 60, max: 64, count: 3 }]);
  });

  it('re-aggregates the days of readings older than the CQ window once they are written', async () => {
    store.backfillDelayMs = 50;
    const day = new Date(Math.floor((Date.now() - 10 * 86_400_000) / 86_400_000) * 86_400_000);
    const at = (h: number) => new Date(day.getTime() + h * 3_600_000).toISOString();
    await store.write([point('pc', 90, at(8), 7), point('pc', 92, at(9), 8)]);
    const from = new Date(day.getTime() - 86_400_000);
    await waitFor(
      'the re-aggregated days',
      async () => (await store.dailyAggregates('pc', 'body_weight', from, new Date())).length > 0,
      10_000,
    );
    expect(await store.dailyAggregates('pc', 'body_weight', from, new Date())).toEqual([
      { day: day.toISOString().slice(0, 10), mean: 91, min: 90, max: 92, count: 2 },
    ]);
  });
  it('re-aggregates a stream of late days in one pass once the stream quiets, a week per statement', async () => {
    const s = new TimeSeriesStore(influx.url, influx.database, { batch: { maxPoints: 1000, flushIntervalMs: 5 } });
    await s.ensureDatabase();
    s.backfillDelayMs = 1500;
    const passes: [string, string][] = [];
    const backfill = s.backfillDaily.bind(s);
    s.backfillDaily = (from, to, rollups) => {
      passes.push([from.toISOString().slice(0, 10), to.toISOString().slice(0, 10)]);
      return backfill(from, to, rollups);
    };
    // nine consecutive days, 20 to 12 days ago, written one after the other as a box's backlog
    const first = Math.floor((Date.now() - 20 * 86_400_000) / 86_400_000) * 86_400_000;
    for (let d = 0; d < 9; d++)
      await s.write([point('pd', 70 + d, new Date(first + d * 86_400_000 + 8 * 3_600_000).toISOString(), 20 + d)]);
    const from = new Date(first - 86_400_000);
    await waitFor(
      'the late days re-aggregated',
      async () => (await s.dailyAggregates('pd', 'body_weight', from, new Date())).length === 9,
      15_000,
    );
    const day = (i: number) => new Date(first + i * 86_400_000).toISOString().slice(0, 10);
    expect(passes).toEqual([
      [day(0), day(6)],
      [day(7), day(8)],
    ]);
    await s.close();
  });

  it('re-aggregates the late days still waiting when the hub stops', async () => {
    const s = new TimeSeriesStore(influx.url, influx.database, { batch: { maxPoints: 1000, flushIntervalMs: 5 } });
    await s.ensureDatabase();
    s.backfillDelayMs = 3_600_000;
    const day = new Date(Math.floor((Date.now() - 30 * 86_400_000) / 86_400_000) * 86_400_000);
    await s.write([point('pe', 81, new Date(day.getTime() + 9 * 3_600_000).toISOString(), 1)]);
    await s.close();
    expect(await store.dailyAggregates('pe', 'body_weight', day, new Date(day.getTime() + 86_400_000))).toEqual([
      { day: day.toISOString().slice(0, 10), mean: 81, min: 81, max: 81, count: 1 },
    ]);
  });
});
