import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshCohortAggregates } from '../../hub/reporting/cohort-refresh';
import { createTestPostgres, type TestPostgres } from '../support/stores';
import { boardQueries, isEmpty, runPostgres, type QueryResult, type Row } from './board-queries';
import type { QueryContext } from './grafana-interpolate';

/**
 * The cohort board's queries, interpolated as Grafana does and run as the read-only role against
 * real PostgreSQL seeded with two care teams whose figures are known by construction: one of six
 * patients (every figure shown), one of two (masked, as the program report masks cells under 5).
 */
const DAY = 86_400_000;
const now = new Date();
/** the previous calendar month (UTC): a whole month of follow-up */
const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
const thisMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
const daysInLastMonth = Math.round((thisMonth.getTime() - lastMonth.getTime()) / DAY);
const BIG = ['CB-1', 'CB-2', 'CB-3', 'CB-4', 'CB-5', 'CB-6'];
const SMALL = ['CS-1', 'CS-2'];
/** days with a reading last month, per patient of the big team */
const DAYS_WITH_DATA = [10, 10, 10, 20, 20, 0];

let pg: TestPostgres;
const ctx: QueryContext = {
  from: new Date(now.getTime() - 365 * DAY),
  to: now,
  interval: '1d',
  variables: {
    program: {
      value: ['heart_failure', 'oral_chemotherapy', 'cardiovascular_prevention'],
      multi: true,
      includeAll: true,
    },
    care_team: { value: ['team-big', 'team-small'], multi: true, includeAll: true },
  },
  user: { login: 'admin' },
};
const queries = boardQueries('cohort');
const rows = (r: QueryResult): Row[] => {
  if (r.kind !== 'rows') throw new Error('expected rows');
  return r.rows;
};
const at = (r: Row[], month: Date, team: string) =>
  r.find((x) => (x.month as Date).getTime() === month.getTime() && x['care team'] === team);

async function reading(patientId: string, metric: string, t: Date) {
  await pg.pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
     VALUES (md5($1 || $2 || $3::timestamptz::text), $1, 'gw-c', 'C0:00:00:00:00:01', 'sim-device', $2, 1, 'x', $3::timestamptz, now())`,
    [patientId, metric, t],
  );
}

beforeAll(async () => {
  pg = await createTestPostgres('vigil_cohort_board');
  const q = (sql: string, p: unknown[] = []) => pg.pool.query(sql, p);
  for (const [team, program, ids] of [
    ['team-big', 'heart_failure', BIG],
    ['team-small', 'oral_chemotherapy', SMALL],
  ] as const) {
    await q('INSERT INTO care_teams (id, program_id, name) VALUES ($1, $2, $3)', [
      team,
      program,
      team.replace('-', ' '),
    ]);
    for (const id of ids) {
      await q('INSERT INTO patients (id, program_id, display_name, created_at) VALUES ($1, $2, $3, $4)', [
        id,
        program,
        `Name of ${id}`,
        lastMonth,
      ]);
      await q('INSERT INTO care_team_patients (care_team_id, patient_id) VALUES ($1, $2)', [team, id]);
    }
  }
  for (const [i, id] of BIG.entries()) {
    for (let d = 0; d < DAYS_WITH_DATA[i]!; d++) {
      // two readings a day count as one day
      await reading(id, 'heart_rate', new Date(lastMonth.getTime() + d * DAY + 8 * 3_600_000));
      await reading(id, 'body_weight', new Date(lastMonth.getTime() + d * DAY + 9 * 3_600_000));
    }
    // a battery level is device state, not a day with data
    await reading(id, 'battery_level', new Date(lastMonth.getTime() + 25 * DAY));
  }
  for (const id of SMALL) await reading(id, 'heart_rate', new Date(lastMonth.getTime() + DAY));
  // three episodes last month, acknowledged after 10, 20 and 30 minutes; one in the small team
  const opened = new Date(lastMonth.getTime() + 4 * DAY + 8 * 3_600_000);
  for (const [id, minutes] of [
    ['CB-1', 10],
    ['CB-2', 20],
    ['CB-3', 30],
    ['CS-1', 5],
  ] as const)
    await q(
      `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, priority, opened_at, updated_at, summary, acknowledged_at)
       VALUES ($1, 'r', 'amber', 'resolved', 'routine', $2, $2, 'x', $3)`,
      [id, opened, new Date(opened.getTime() + minutes * 60_000)],
    );
  // the hub's hourly refresh, run now
  expect(await refreshCohortAggregates(pg.pool)).toBe(true);
}, 60_000);

afterAll(async () => {
  await pg.drop();
});

/** What each query returns for the seeded cohort; one entry per query. */
const expectations: Record<string, (r: QueryResult) => void> = {
  'cohort / Cohort by month / A': (r) => {
    const big = at(rows(r), lastMonth, 'team big');
    // adherence: (10 + 10 + 10 + 20 + 20 + 0) / 6 days of the month's days; 3 episodes over 6 patient-months
    const patientMonths = (6 * daysInLastMonth) / 30.4375;
    expect(big).toMatchObject({
      program: 'heart_failure',
      enrolled: 6,
      active: 5,
      episodes: 3,
      masked: false,
      'median min to acknowledge': 20,
    });
    expect(big!['adherence %']).toBeCloseTo((100 * (70 / 6)) / daysInLastMonth, 1);
    expect(big!['episodes / patient-month']).toBeCloseTo(3 / patientMonths, 3);
    // two patients: the count is shown, every figure masked
    expect(at(rows(r), lastMonth, 'team small')).toMatchObject({
      enrolled: 2,
      masked: true,
      active: null,
      'adherence %': null,
      episodes: null,
      'episodes / patient-month': null,
      'median min to acknowledge': null,
    });
    // the current month is there too, newest first
    expect((rows(r)[0]!.month as Date).getTime()).toBe(thisMonth.getTime());
  },
  'cohort / Adherence by month / A': (r) => {
    expect(new Set(rows(r).map((x) => x.metric))).toEqual(new Set(['team big']));
    const last = rows(r).find((x) => (x.time as Date).getTime() === lastMonth.getTime());
    expect(last!.value).toBeCloseTo((100 * (70 / 6)) / daysInLastMonth, 1);
  },
  'cohort / Episodes per patient-month / A': (r) => {
    expect(new Set(rows(r).map((x) => x.metric))).toEqual(new Set(['team big']));
    const last = rows(r).find((x) => (x.time as Date).getTime() === lastMonth.getTime());
    expect(last!.value).toBeCloseTo(3 / ((6 * daysInLastMonth) / 30.4375), 3);
  },
  'cohort / variable / program': (r) => expect(rows(r).length).toBeGreaterThanOrEqual(3),
  'cohort / variable / care_team': (r) =>
    expect(rows(r).map((x) => [x.__value, x.__text])).toEqual([
      ['team-big', 'team big'],
      ['team-small', 'team small'],
    ]),
};

describe('cohort board on real PostgreSQL', () => {
  it('covers every query of the board with an expectation', () => {
    expect(queries.map((q) => q.id).sort()).toEqual(Object.keys(expectations).sort());
  });

  it.each(queries.map((q) => [q.id, q] as const))('%s returns the cohort', async (_id, q) => {
    const r = await runPostgres(q, ctx, pg.pool);
    expect(isEmpty(r), `${q.id} returned nothing`).toBe(false);
    expectations[q.id]!(r);
  });

  it('the aggregate view exposes no patient: no id column, no id or name among its values', async () => {
    // (a materialised view is not in information_schema.columns: pg_attribute lists its columns)
    const cols = await pg.pool.query<{ column_name: string }>(
      `SELECT attname AS column_name FROM pg_attribute WHERE attrelid = 'grafana.cohort_monthly'::regclass AND attnum > 0 AND NOT attisdropped`,
    );
    // exactly these columns: aggregates per program, team and month, nothing that names a patient
    expect(cols.rows.map((c) => c.column_name).sort()).toEqual(
      [
        'program_id',
        'care_team_id',
        'care_team_name',
        'month',
        'enrolled',
        'masked',
        'active',
        'adherence_pct',
        'patient_months',
        'episodes',
        'episodes_per_patient_month',
        'median_minutes_to_acknowledge',
      ].sort(),
    );
    const all = await runPostgres(
      {
        id: 'probe',
        board: 'cohort',
        datasource: 'postgres',
        text: 'SELECT * FROM grafana.cohort_monthly',
        resultFormat: 'table',
      },
      ctx,
      pg.pool,
    );
    const cells = rows(all).flatMap((r) => Object.values(r).map(String));
    for (const id of [...BIG, ...SMALL]) {
      expect(cells.some((c) => c.includes(id))).toBe(false);
      expect(cells.some((c) => c.includes(`Name of ${id}`))).toBe(false);
    }
  });

  it('narrows to the selected care team', async () => {
    const q = queries.find((x) => x.id === 'cohort / Cohort by month / A')!;
    const r = await runPostgres(
      q,
      { ...ctx, variables: { ...ctx.variables, care_team: { value: ['team-small'], multi: true } } },
      pg.pool,
    );
    expect(new Set(rows(r).map((x) => x['care team']))).toEqual(new Set(['team small']));
  });

  it('the refresh picks up new data without blocking readers, one hub at a time', async () => {
    await pg.pool.query(
      `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, priority, opened_at, updated_at, summary)
       VALUES ('CB-4', 'r', 'red', 'open', 'urgent', $1, $1, 'x')`,
      [new Date(lastMonth.getTime() + 6 * DAY)],
    );
    const q = queries.find((x) => x.id === 'cohort / Cohort by month / A')!;
    const episodes = async () => at(rows(await runPostgres(q, ctx, pg.pool)), lastMonth, 'team big')!.episodes;
    expect(await episodes()).toBe(3); // not yet refreshed
    // another hub holds the refresh: this one skips its round
    const other = await pg.pool.connect();
    try {
      await other.query("SELECT pg_advisory_lock(hashtext('vigil-cohort-monthly'))");
      expect(await refreshCohortAggregates(pg.pool)).toBe(false);
      await other.query("SELECT pg_advisory_unlock(hashtext('vigil-cohort-monthly'))");
    } finally {
      other.release();
    }
    expect(await refreshCohortAggregates(pg.pool)).toBe(true);
    expect(await episodes()).toBe(4);
  });
});
