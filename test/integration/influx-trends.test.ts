/**
 * Rollup reads for the workspace's patient page (hub/storage/influx/trends.ts) on a real InfluxDB
 * 1.x: daily and hourly buckets and the 7-day moving mean come from the hub's rollups (computed
 * here as the continuous queries compute them), not from raw points.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeSeriesStore, type StoredPoint } from '../../hub/storage/influx/timeseries';
import { Trends } from '../../hub/storage/influx/trends';
import { createTestInflux } from '../support/stores';

let influx: Awaited<ReturnType<typeof createTestInflux>>;
let store: TimeSeriesStore;
let trends: Trends;

const DAY = 86_400_000;
const day0 = Date.parse('2026-03-01T00:00:00Z');
let n = 0;
const point = (patientId: string, value: number, at: number): StoredPoint => ({
  readingId: `trend-${n++}`,
  patientId,
  gatewayId: 'gw-trends',
  deviceAddress: 'AA:BB:CC:DD:EE:02',
  driver: 'sim-cuff',
  metric: 'blood_pressure_systolic',
  value,
  measuredAt: new Date(at),
});

beforeAll(async () => {
  influx = await createTestInflux('vigil_trends');
  store = new TimeSeriesStore(influx.url, influx.database, { batch: { maxPoints: 1000, flushIntervalMs: 5 } });
  await store.ensureDatabase();
  // ten days: two readings a day (07:00 and 19:00) for pa, day d at 130 + d and 140 + d; pb at 200
  const points: StoredPoint[] = [];
  for (let d = 0; d < 10; d++) {
    points.push(point('pa', 130 + d, day0 + d * DAY + 7 * 3_600_000));
    points.push(point('pa', 140 + d, day0 + d * DAY + 19 * 3_600_000));
    points.push(point('pb', 200, day0 + d * DAY + 7 * 3_600_000));
  }
  await store.write(points);
  await store.backfillDaily(new Date(day0), new Date(day0 + 9 * DAY));
  trends = new Trends(store);
});

afterAll(async () => {
  await store.close();
  await influx.drop();
});

describe('Trends (rollups)', () => {
  it('reads one daily bucket per day with mean, min, max, sum and count, for this patient only', async () => {
    const days = await trends.daily(
      'pa',
      'blood_pressure_systolic',
      new Date(day0 + 2 * DAY),
      new Date(day0 + 4 * DAY),
    );
    expect(days).toEqual(
      [2, 3, 4].map((d) => ({
        time: new Date(day0 + d * DAY).toISOString(),
        mean: 135 + d,
        min: 130 + d,
        max: 140 + d,
        sum: 270 + 2 * d,
        count: 2,
      })),
    );
  });

  it('reads hourly buckets, and auto() picks them for a short range and daily ones for a long one', async () => {
    const from = new Date(day0 + DAY);
    const to = new Date(day0 + 2 * DAY - 1);
    const hours = await trends.hourly('pa', 'blood_pressure_systolic', from, to);
    expect(hours.map((h) => [h.time, h.mean, h.count])).toEqual([
      [new Date(day0 + DAY + 7 * 3_600_000).toISOString(), 131, 1],
      [new Date(day0 + DAY + 19 * 3_600_000).toISOString(), 141, 1],
    ]);
    expect(await trends.auto('pa', 'blood_pressure_systolic', from, to)).toEqual(hours);
    const long = await trends.auto('pa', 'blood_pressure_systolic', new Date(day0), new Date(day0 + 30 * DAY));
    expect(long).toHaveLength(10);
  });

  it('reads the 7-day moving mean of the daily means, using days before the range', async () => {
    const mm = await trends.movingMean(
      'pa',
      'blood_pressure_systolic',
      7,
      new Date(day0 + 7 * DAY),
      new Date(day0 + 9 * DAY),
    );
    // day 7: mean of the daily means of days 1..7 = 135 + 4
    expect(mm).toEqual([
      { time: new Date(day0 + 7 * DAY).toISOString(), value: 139 },
      { time: new Date(day0 + 8 * DAY).toISOString(), value: 140 },
      { time: new Date(day0 + 9 * DAY).toISOString(), value: 141 },
    ]);
    await expect(trends.movingMean('pa', 'blood_pressure_systolic', 0, new Date(day0), new Date(day0))).rejects.toThrow(
      'TRENDS_BAD_WINDOW',
    );
  });
});
