/**
 * GET /api/patients/:id/trends reads the InfluxDB rollups (issue 15): past days from the daily
 * rollup, today's finished hours from the hourly rollup, the last hours from raw readings (the
 * rule in Trends.dailySummary, docs/web.md). A known series checks every figure against the
 * rollup's own means and against the readings; an unreachable InfluxDB answers 503
 * STORE_UNAVAILABLE; the authorization in front of it is unchanged.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers } from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { TimeSeriesStore, type StoredPoint } from '../../hub/storage/influx/timeseries';
import { Trends } from '../../hub/storage/influx/trends';
import { createTestInflux } from '../support/stores';
import { rulesFixture, type RulesFixture } from './rules-fixture';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** the API's clock: 14:30 UTC, so the rollup horizon is 13:00 */
const NOW = Date.parse('2026-03-20T14:30:00Z');
const TODAY = Date.parse('2026-03-20T00:00:00Z');
const PA = 'TR-A';
const PB = 'TR-B';

let f: RulesFixture;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
let store: TimeSeriesStore;
let api: FastifyInstance;
let nurse: string;
let pharmacist: string;
let otherTeam: string;
let n = 0;
/** every reading written for PA's body weight, to check the figures against the readings themselves */
const written: { at: number; value: number }[] = [];

const point = (patientId: string, metric: StoredPoint['metric'], value: number, at: number): StoredPoint => ({
  readingId: `tr-${n++}`,
  patientId,
  gatewayId: 'gw-tr',
  deviceAddress: 'AA:BB:CC:DD:EE:07',
  driver: 'sim-scale',
  metric,
  value,
  measuredAt: new Date(at),
});

function weight(value: number, at: number): StoredPoint {
  written.push({ at, value });
  return point(PA, 'body_weight', value, at);
}

beforeAll(async () => {
  f = await rulesFixture();
  f.clock.set(new Date(NOW));
  influx = await createTestInflux('vigil_trends_route');
  store = new TimeSeriesStore(influx.url, influx.database, { batch: { maxPoints: 1000, flushIntervalMs: 5 } });
  await store.ensureDatabase();
  // 40 past days: weight at 07:00 and 19:00, a third weighing every third day (uneven counts,
  // so a mean of daily means and the mean of the readings differ); PB at 200 the same days
  const points: StoredPoint[] = [];
  for (let d = 1; d <= 40; d++) {
    const day = TODAY - d * DAY;
    points.push(weight(70 + d / 10, day + 7 * HOUR), weight(72 + d / 10, day + 19 * HOUR));
    if (d % 3 === 0) points.push(weight(80, day + 21 * HOUR));
    points.push(point(PB, 'body_weight', 200, day + 7 * HOUR));
  }
  // today before the horizon (hourly rollup)
  points.push(weight(75, TODAY + 7 * HOUR));
  await store.write(points);
  await store.backfillDaily(new Date(TODAY - 40 * DAY), new Date(TODAY));
  // after the horizon, not rolled up yet (the CQ has not run): read raw; and one after "now"
  await store.write([weight(77, NOW - 60_000), point(PA, 'body_weight', 99, NOW + HOUR)]);

  await f.enroll(PA, 'oral_chemotherapy');
  await f.enroll(PB, 'oral_chemotherapy');
  const team = await createCareTeamWithMembers(f.pool, {
    id: 'team-tr',
    programId: 'oral_chemotherapy',
    name: 'Trends',
    patientIds: [PA],
    roles: ['coordinating_nurse', 'pharmacist'],
  });
  nurse = team.coordinating_nurse.token;
  pharmacist = team.pharmacist.token;
  otherTeam = (
    await createCareTeamWithMembers(f.pool, {
      id: 'team-tr-b',
      programId: 'oral_chemotherapy',
      name: 'Other',
      patientIds: [PB],
      roles: ['coordinating_nurse'],
    })
  ).coordinating_nurse.token;
  api = await buildApi({
    pool: f.pool,
    timeseries: store,
    metrics: f.metrics,
    logLevel: 'silent',
    clock: f.clock,
    episodes: f.episodes,
    rules: f.engine,
  });
});

afterAll(async () => {
  await api.close();
  await store.close();
  await influx.drop();
  await f.pg.drop();
});

interface Day {
  day: string;
  mean: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

async function trends(token: string, metric: string, days: number) {
  return api.inject({
    method: 'GET',
    url: `/api/patients/${PA}/trends?metric=${metric}&days=${days}`,
    headers: { authorization: `Bearer ${token}` },
  });
}

/** what the ledger query used to answer, from the readings themselves */
function fromReadings(first: number): Day[] {
  const by = new Map<string, number[]>();
  for (const r of written.filter((w) => w.at >= first && w.at <= NOW)) {
    const day = new Date(r.at).toISOString().slice(0, 10);
    by.set(day, [...(by.get(day) ?? []), r.value]);
  }
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([day, vs]) => {
      const sum = vs.reduce((s, v) => s + v, 0);
      return {
        day,
        mean: Math.round((sum / vs.length) * 100) / 100,
        min: Math.min(...vs),
        max: Math.max(...vs),
        sum: Math.round(sum * 100) / 100,
        count: vs.length,
      };
    });
}

describe('GET /api/patients/:id/trends (InfluxDB rollups)', () => {
  it('gives the daily rollup means for past days and merges today from the hourly rollup and raw readings', async () => {
    const res = await trends(nurse, 'body_weight', 30);
    expect(res.statusCode).toBe(200);
    const body = res.json<{ patientId: string; metric: string; days: Day[] }>();
    expect(body.patientId).toBe(PA);
    expect(body.metric).toBe('body_weight');
    // the last 30 UTC days, today included
    expect(body.days).toHaveLength(30);
    expect(body.days[0]!.day).toBe('2026-02-19');
    expect(body.days.at(-1)).toEqual({ day: '2026-03-20', mean: 76, min: 75, max: 77, sum: 152, count: 2 });
    // past days: exactly the daily rollup's figures
    const rollup = await new Trends(store).daily(PA, 'body_weight', new Date(TODAY - 29 * DAY), new Date(TODAY - 1));
    expect(rollup).toHaveLength(29);
    expect(body.days.slice(0, 29).map((d) => [d.day, d.mean, d.min, d.max, d.count])).toEqual(
      rollup.map((r) => [r.time.slice(0, 10), Math.round(r.mean * 100) / 100, r.min, r.max, r.count]),
    );
    // and the same figures the readings give (what the ledger aggregation answered)
    expect(body.days).toEqual(fromReadings(TODAY - 29 * DAY));
  });

  it('covers a year from the daily rollup (one point a day) and a week likewise', async () => {
    const year = (await trends(nurse, 'body_weight', 365)).json<{ days: Day[] }>().days;
    expect(year).toEqual(fromReadings(TODAY - 364 * DAY));
    expect(year).toHaveLength(41);
    const week = (await trends(nurse, 'body_weight', 7)).json<{ days: Day[] }>().days;
    expect(week.map((d) => d.day)).toEqual(
      [6, 5, 4, 3, 2, 1, 0].map((d) => new Date(TODAY - d * DAY).toISOString().slice(0, 10)),
    );
  });

  it("gives what the chart's 7-day mean needs: sum and count make the mean of the readings", async () => {
    const week = (await trends(nurse, 'body_weight', 7)).json<{ days: Day[] }>().days;
    const mean7 = week.reduce((s, d) => s + d.sum, 0) / week.reduce((s, d) => s + d.count, 0);
    const readings = written.filter((w) => w.at >= TODAY - 6 * DAY && w.at <= NOW).map((w) => w.value);
    expect(mean7).toBeCloseTo(readings.reduce((s, v) => s + v, 0) / readings.length, 6);
    // a mean of daily means would not be (uneven counts per day)
    const meanOfMeans = week.reduce((s, d) => s + d.mean, 0) / week.length;
    expect(Math.abs(meanOfMeans - mean7)).toBeGreaterThan(0.01);
  });

  it('keeps the authorization: the pharmacist sees weight, not heart rate; another team sees nothing', async () => {
    expect((await trends(pharmacist, 'body_weight', 30)).statusCode).toBe(200);
    const hr = await trends(pharmacist, 'heart_rate', 30);
    expect(hr.statusCode).toBe(403);
    expect(hr.json<{ code: string }>().code).toBe('FORBIDDEN');
    expect([403, 404]).toContain((await trends(otherTeam, 'body_weight', 30)).statusCode);
    expect((await api.inject({ method: 'GET', url: `/api/patients/${PA}/trends?metric=body_weight` })).statusCode).toBe(
      401,
    );
  });

  it('answers 503 STORE_UNAVAILABLE when InfluxDB cannot be reached', async () => {
    const down = new TimeSeriesStore('http://127.0.0.1:1', 'vigil_nowhere');
    const api2 = await buildApi({
      pool: f.pool,
      timeseries: down,
      metrics: f.metrics,
      logLevel: 'silent',
      clock: f.clock,
      episodes: f.episodes,
      rules: f.engine,
    });
    try {
      const res = await api2.inject({
        method: 'GET',
        url: `/api/patients/${PA}/trends?metric=body_weight&days=30`,
        headers: { authorization: `Bearer ${nurse}` },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json<{ code: string }>().code).toBe('STORE_UNAVAILABLE');
    } finally {
      await api2.close();
      await down.close();
    }
  });
});
