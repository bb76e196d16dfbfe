import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricName } from '../../contract';
import { createPatient } from '../../hub/admin/provisioning';
import { History, type Reach } from '../../hub/rules/history';
import { createTestPostgres, type TestPostgres } from '../support/stores';

const DAY = 86_400_000;
const T = Date.parse('2026-03-01T08:00:00Z');

/**
 * The history a group of measurements is evaluated against is preloaded per metric over what the
 * rules were seen reading of it (the engine's learnt reach); a rule reading further still gets every
 * row, from its own query. Real PostgreSQL.
 */
describe('rule history reach', () => {
  let db: TestPostgres;
  let queries = 0;

  beforeAll(async () => {
    db = await createTestPostgres('vigil_reach');
    await createPatient(db.pool, { id: 'REACH-1', programId: 'heart_failure', displayName: 'Reach' });
    // one systolic and one diastolic reading a day for 40 days before T
    await db.pool.query(
      `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
       SELECT md5(m || d), 'REACH-1', 'gw-reach', 'AA:BB:CC:DD:EE:01', 'sim-cuff', m, 100 + d, 'mmHg', $1::timestamptz - d * interval '1 day', now()
         FROM generate_series(0, 40) d, unnest(ARRAY['blood_pressure_systolic', 'blood_pressure_diastolic']) m`,
      [new Date(T)],
    );
    // every statement the History sends goes through pool.query: counted
    type Query = (...args: unknown[]) => unknown;
    const query = db.pool.query.bind(db.pool) as Query;
    (db.pool as unknown as { query: Query }).query = (...args: unknown[]) => {
      queries++;
      return query(...args);
    };
  });

  afterAll(async () => {
    await db.drop();
  });

  const values = async (h: History, metric: MetricName, from: number, to: number) =>
    (await h.readings('REACH-1', [metric], new Date(from), new Date(to))).map((r) => r.value);

  it('learns how far the rules read each metric around a measurement', async () => {
    const reach = new Map<MetricName, Reach>();
    const h = new History(db.pool, reach);
    h.anchor = T;
    await h.readings('REACH-1', ['blood_pressure_systolic'], new Date(T - 31 * DAY), new Date(T));
    await h.readings('REACH-1', ['blood_pressure_diastolic'], new Date(T - 7 * DAY), new Date(T + DAY));
    h.anchor = T - DAY;
    await h.readings('REACH-1', ['blood_pressure_diastolic'], new Date(T - 6 * DAY), new Date(T - DAY));
    expect(Object.fromEntries(reach)).toEqual({
      blood_pressure_systolic: { before: 31 * DAY, after: 0 },
      blood_pressure_diastolic: { before: 7 * DAY, after: DAY },
    });
  });

  it('preloads each metric over its own reach in one query; a read beyond it still sees every row', async () => {
    const reach = new Map<MetricName, Reach>([
      ['blood_pressure_systolic', { before: 31 * DAY, after: 0 }],
      ['blood_pressure_diastolic', { before: 7 * DAY, after: 0 }],
    ]);
    const h = new History(db.pool, reach);
    const before = queries;
    await h.preloadReadings(
      new Map([['REACH-1', { first: T, last: T }]]),
      ['blood_pressure_systolic', 'blood_pressure_diastolic'],
      { before: 32 * DAY, after: 2 * DAY },
    );
    expect(queries - before).toBe(1);
    // within each metric's reach: served by the preload
    expect(await values(h, 'blood_pressure_systolic', T - 31 * DAY, T)).toHaveLength(32);
    expect(await values(h, 'blood_pressure_diastolic', T - 7 * DAY, T)).toHaveLength(8);
    expect(queries - before).toBe(1);
    // diastolic 10 days back: beyond its reach, read on its own, nothing missing
    const tenDays = await values(h, 'blood_pressure_diastolic', T - 10 * DAY, T);
    expect(queries - before).toBe(2);
    expect(tenDays).toEqual([110, 109, 108, 107, 106, 105, 104, 103, 102, 101, 100]);
  });

  it('reads a metric it has not seen the rules read over the default window', async () => {
    const h = new History(db.pool, new Map());
    await h.preloadReadings(new Map([['REACH-1', { first: T, last: T }]]), ['blood_pressure_diastolic'], {
      before: 32 * DAY,
      after: 2 * DAY,
    });
    const before = queries;
    expect(await values(h, 'blood_pressure_diastolic', T - 32 * DAY, T)).toHaveLength(33);
    expect(queries).toBe(before);
  });
  it("reads each patient's history around that patient's own measurements", async () => {
    const h = new History(db.pool, new Map([['blood_pressure_diastolic', { before: 3 * DAY, after: 0 }]]));
    // measurements of the group 20 days back: the window is read around them, not around T
    const before = queries;
    await h.preloadReadings(
      new Map([['REACH-1', { first: T - 20 * DAY, last: T - 20 * DAY }]]),
      ['blood_pressure_diastolic'],
      { before: 32 * DAY, after: 2 * DAY },
    );
    expect(await values(h, 'blood_pressure_diastolic', T - 23 * DAY, T - 20 * DAY)).toEqual([123, 122, 121, 120]);
    expect(queries - before).toBe(1);
    // a window around T was not read: asking for it is a query of its own
    expect(await values(h, 'blood_pressure_diastolic', T - DAY, T)).toEqual([101, 100]);
    expect(queries - before).toBe(2);
  });
});
