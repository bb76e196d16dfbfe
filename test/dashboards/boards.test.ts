import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBoard, type BoardName } from '../../dashboards/artifacts';
import { patientIdSchema } from '../../contract';
import { GrafanaPostgresScopes, type GrafanaPostgresScope } from '../../hub/security/grafana-postgres-scopes';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import {
  boardQueries,
  isEmpty,
  runInflux,
  runPostgres,
  type BoardQuery,
  type QueryResult,
  type Row,
  type Series,
} from './board-queries';
import type { QueryContext } from './grafana-interpolate';
import { buildScenario, DAY_MS, seedScenario } from './scenario';

/**
 * Every query of every board (panel targets, annotations, variables), interpolated as Grafana
 * does and run against real InfluxDB and PostgreSQL seeded with the scenario of scenario.ts.
 * PostgreSQL is read as Grafana does, through a professional's own Grafana login (row-level
 * security, migration 210): `board-nurse`, a coordinating nurse of every program whom every
 * scenario patient consented to, so the expectations below see the whole scenario.
 */
const now = new Date();
const s = buildScenario(now);
const yesterday = s.today - DAY_MS;
const ALL_PROGRAMS = ['cardiovascular_prevention', 'heart_failure', 'oral_chemotherapy'];

// the Grafana login (${__user.login}) no longer narrows anything: row-level security does
const admin = { login: 'board-nurse' };
const contexts: Record<BoardName, QueryContext> = {
  patient: {
    from: new Date(s.today - 30 * DAY_MS),
    to: now,
    interval: '1h',
    variables: { patient: { value: 'pat-a' } },
    user: admin,
  },
  worklist: {
    from: new Date(now.getTime() - 30 * DAY_MS),
    to: now,
    interval: '1h',
    variables: { program: { value: ALL_PROGRAMS, multi: true, includeAll: true } },
    user: admin,
  },
  fleet: { from: new Date(now.getTime() - DAY_MS), to: now, interval: '1h', variables: {}, user: admin },
  // the cohort board needs cohorts of 5 and more: cohort-board.test.ts seeds its own
  cohort: { from: new Date(now.getTime() - 365 * DAY_MS), to: now, interval: '1d', variables: {}, user: admin },
};

const series = (r: QueryResult): Series[] => {
  if (r.kind !== 'series') throw new Error('expected time series');
  return r.series;
};
const rows = (r: QueryResult): Row[] => {
  if (r.kind !== 'rows') throw new Error('expected rows');
  return r.rows;
};
const only = (r: QueryResult, name: string): Series => {
  const all = series(r);
  expect(all.map((x) => x.name)).toEqual([name]);
  return all[0]!;
};
const values = (x: Series): number[] => x.points.map(([, v]) => v).filter((v): v is number => v !== null);
const at = (x: Series, t: number): number | null | undefined => x.points.find(([time]) => time === t)?.[1];
// measured when the assertion runs, next to the query's now(): under load the file may start
// minutes after the scenario's `now`
const ageHours = (t: Date) => Math.round(((Date.now() - t.getTime()) / 3_600_000) * 10) / 10;

/** What each query must return for the scenario; one entry per query, no more, no less. */
const expectations: Record<string, (r: QueryResult) => void> = {
  'patient / variable / patient': (r) => {
    expect(rows(r).map((x) => x.__value)).toEqual(['pat-a', 'pat-b', 'pat-c']);
    expect(rows(r)[0]!.__text).toBe('pat-a (Heart failure)');
  },
  'patient / annotation / Red alert episodes': (r) => {
    expect(rows(r)).toHaveLength(1);
    expect(rows(r)[0]).toMatchObject({ text: 'bp_crisis (open)', tags: 'red' });
    expect((rows(r)[0]!.time as Date).getTime()).toBe(s.at(3, 20).getTime());
  },
  'patient / annotation / Amber alert episodes': (r) => {
    // the day-60 episode is outside the range
    expect(rows(r).map((x) => x.text)).toEqual(['bp_home_mean (acknowledged)', 'weight_gain_3d (resolved)']);
    expect((rows(r)[1]!.timeend as Date).getTime()).toBe(s.at(1, 20).getTime());
  },
  'patient / Days with data in the last 30 / A': (r) => expect(rows(r)).toEqual([{ 'days with data': 27 }]),
  'patient / Last reading / A': (r) => expect(rows(r)[0]!['hours ago']).toBeCloseTo(ageHours(s.at(1, 21)), 1),
  'patient / Alert episodes / A': (r) => {
    expect(rows(r).map((x) => [x.rule, x.severity, x.status])).toEqual([
      ['weight_gain_3d', 'amber', 'resolved'],
      ['bp_home_mean', 'amber', 'acknowledged'],
      ['bp_crisis', 'red', 'open'],
    ]);
  },
  'patient / Blood pressure / A': (r) => {
    const x = only(r, 'systolic');
    expect(values(x)).toHaveLength(29); // 28 days + the crisis reading; none of pat-b's 200s
    expect(Math.max(...values(x))).toBe(185);
    expect(at(x, s.at(20, 8).getTime())).toBe(128);
  },
  'patient / Blood pressure / B': (r) => {
    const x = only(r, 'diastolic');
    expect(values(x)).toHaveLength(29);
    expect(Math.max(...values(x))).toBe(122);
  },
  'patient / Blood pressure / C': (r) => {
    // days 1..7: 142 each, day 3 (142 + 185) / 2
    expect(at(only(r, 'systolic 7-day mean'), yesterday)).toBeCloseTo((6 * 142 + 163.5) / 7, 6);
  },
  'patient / Blood pressure / D': (r) => {
    expect(at(only(r, 'diastolic 7-day mean'), yesterday)).toBeCloseTo((6 * 88 + 105) / 7, 6);
  },
  'patient / Weight / A': (r) => {
    const x = only(r, 'weight');
    expect(values(x)).toHaveLength(28);
    expect(values(x).at(-1)).toBe(82.6);
  },
  'patient / Weight change over 3 days / A': (r) => {
    const x = only(r, '3-day change');
    expect(at(x, yesterday)).toBeCloseTo(2.6, 6); // 82.6 - 80.0: above the 2 kg line (rule 6)
    expect(at(x, s.today - 10 * DAY_MS)).toBeCloseTo(0, 6);
  },
  'patient / Temperature / A': (r) => {
    const x = only(r, 'temperature');
    expect(values(x)).toHaveLength(30);
    expect(Math.max(...values(x))).toBe(38.4);
    expect(values(x).filter((v) => v >= 38)).toEqual([38.1, 38.2, 38.4]);
  },
  'patient / SpO2 / A': (r) => {
    const x = only(r, 'SpO2');
    expect(Math.min(...values(x))).toBe(90);
    expect(at(x, s.at(2, 8).getTime())).toBe(90);
  },
  'patient / Heart rate / A': (r) => {
    const x = only(r, 'heart rate');
    expect(values(x)).toHaveLength(29);
    expect(Math.max(...values(x))).toBe(80);
  },
  'patient / Daily steps against the personal baseline / A': (r) => {
    const x = only(r, 'steps per day');
    expect(at(x, yesterday)).toBe(4000);
    expect(at(x, s.today - 15 * DAY_MS)).toBe(0); // a missing day shows as 0
    expect(at(x, s.today - 20 * DAY_MS)).toBe(8000);
  },
  // one statement, a series per window (alias $col)
  'patient / Daily steps against the personal baseline / B': (r) => {
    expect(series(r).map((x) => x.name)).toEqual(['3-day mean', '14-day baseline', '80 % of baseline']);
    const named = (name: string) => series(r).find((x) => x.name === name)!;
    expect(at(named('3-day mean'), yesterday)).toBeCloseTo(4000, 6);
    expect(at(named('14-day baseline'), yesterday)).toBeCloseTo((3 * 4000 + 11 * 8000) / 14, 6);
    expect(at(named('80 % of baseline'), yesterday)).toBeCloseTo((0.8 * (3 * 4000 + 11 * 8000)) / 14, 6);
  },
  'patient / Readings per day / A': (r) => {
    const names = series(r)
      .map((x) => x.name)
      .sort();
    expect(names).toEqual([
      'blood_pressure_systolic',
      'body_temperature',
      'body_weight',
      'heart_rate',
      'spo2',
      'steps',
    ]);
    const bp = series(r).find((x) => x.name === 'blood_pressure_systolic')!;
    expect(at(bp, s.today - 3 * DAY_MS)).toBe(2);
    expect(at(bp, s.today - 5 * DAY_MS)).toBe(1); // pat-b's reading that day is not counted
    const weight = series(r).find((x) => x.name === 'body_weight')!;
    expect([
      at(weight, s.today - 16 * DAY_MS),
      at(weight, s.today - 15 * DAY_MS),
      at(weight, s.today - 14 * DAY_MS),
    ]).toEqual([0, 0, 1]);
  },

  'worklist / variable / program': (r) =>
    expect(
      rows(r)
        .map((x) => x.__value)
        .sort(),
    ).toEqual(ALL_PROGRAMS),
  'worklist / Patients with a red episode / A': (r) => expect(rows(r)).toEqual([{ patients: '2' }]),
  'worklist / Patients with an amber episode / A': (r) => expect(rows(r)).toEqual([{ patients: '1' }]),
  'worklist / No reading for 48 h / A': (r) => expect(rows(r)).toEqual([{ patients: '2' }]),
  'worklist / Under 16 days with data / A': (r) => expect(rows(r)).toEqual([{ patients: '2' }]),
  'worklist / Worklist / A': (r) => {
    expect(
      rows(r).map((x) => [x.patient, x.program, x.red, x.amber, x.unacknowledged, x['days with data / 30']]),
    ).toEqual([
      ['pat-a', 'Heart failure', 1, 1, 1, 27],
      ['pat-b', 'Cardiovascular prevention', 1, 0, 1, 5],
      ['pat-c', 'Oral chemotherapy follow-up', 0, 0, 0, 0],
    ]);
    expect(rows(r)[1]!['last reading (h)']).toBeCloseTo(ageHours(s.at(3, 8)), 1);
    expect(rows(r)[2]!['last reading (h)']).toBeNull();
  },
  'worklist / Open episodes / A': (r) => {
    expect(rows(r).map((x) => [x.patient, x.rule, x.severity, x.status])).toEqual([
      ['pat-b', 'spo2_low', 'red', 'open'],
      ['pat-a', 'bp_crisis', 'red', 'open'],
      ['pat-a', 'bp_home_mean', 'amber', 'acknowledged'],
    ]);
  },

  'fleet / Gateways online / A': (r) => expect(rows(r)).toEqual([{ online: '1', offline: '1' }]),
  'fleet / Gateways / A': (r) => {
    expect(rows(r).map((x) => [x.gateway, x.online, x.devices, x.program, x.revoked])).toEqual([
      ['gw-c', false, 0, 'oral_chemotherapy', true],
      ['gw-b', false, 1, 'cardiovascular_prevention', false],
      ['gw-a', true, 5, 'heart_failure', false],
    ]);
    expect(rows(r)[2]!['minutes ago']).toBeCloseTo(2, 0);
  },
  'fleet / Gateway buffer depth / A': (r) => {
    const byName = Object.fromEntries(series(r).map((x) => [x.name, Math.max(...values(x))]));
    expect(byName).toEqual({ 'gw-a': 0, 'gw-b': 40 });
  },
  'fleet / Ingest rate / A': (r) => {
    const total = rows(r).reduce((sum, x) => sum + Number(x['readings/s']) * 3600, 0);
    expect(total).toBeCloseTo(s.ledgerCount, 6);
  },
  'fleet / Gateway software versions / A': (r) => {
    expect(rows(r).map((x) => [x.version, x.gateways, x.online])).toEqual([
      ['0.1.0', 1, 1],
      ['0.2.0', 1, 0],
    ]);
  },
  'fleet / Device battery levels / A': (r) => {
    const got = rows(r)
      .map((x) => [x.gateway, x.device, x.battery])
      .sort();
    expect(got).toEqual([
      ['gw-a', 'AA:00:00:00:00:01', 15],
      ['gw-a', 'AA:00:00:00:00:02', 80],
      ['gw-b', 'BB:00:00:00:00:01', 55],
    ]);
  },
};

const boards: BoardName[] = ['patient', 'worklist', 'fleet'];
const queries: BoardQuery[] = boards.flatMap(boardQueries);

let db: TestPostgres;
let influx: { url: string; database: string; drop(): Promise<void> };
let provisioner: GrafanaPostgresScopes | undefined;
let scopes: GrafanaPostgresScope[] = [];
const logins = new Map<string, pg.Pool>();

/** The pool Grafana's PostgreSQL data source of this professional's organisation would hold. */
function loginOf(professionalId: string): pg.Pool {
  const scope = scopes.find((x) => x.professionalId === professionalId);
  if (!scope) throw new Error(`no Grafana login for ${professionalId}`);
  let pool = logins.get(scope.roleName);
  if (!pool) {
    const u = new URL(db.url);
    u.username = scope.roleName;
    u.password = scope.password;
    pool = new pg.Pool({ connectionString: u.toString(), max: 2 });
    logins.set(scope.roleName, pool);
  }
  return pool;
}

const run = (q: BoardQuery, ctx: QueryContext = contexts[q.board]): Promise<QueryResult> =>
  q.datasource === 'influxdb'
    ? runInflux(q, ctx, influx.url, influx.database)
    : runPostgres(q, ctx, loginOf(ctx.user?.login ?? 'board-nurse'), { asLogin: true });

beforeAll(async () => {
  [db, influx] = await Promise.all([createTestPostgres('vigil_dash'), createTestInflux('vigil_dash')]);
  await seedScenario(s, db.pool, influx.url, influx.database);
  // the boards' reader: a coordinating nurse of the three programs, with every patient's consent
  await db.pool.query(
    `INSERT INTO professionals (id, display_name, role) VALUES ('board-nurse', 'B', 'coordinating_nurse')`,
  );
  for (const program of ALL_PROGRAMS) {
    await db.pool.query(`INSERT INTO care_teams (id, program_id, name) VALUES ($1, $2, $2)`, [
      `board-${program}`,
      program,
    ]);
    await db.pool.query(
      `INSERT INTO care_team_members (care_team_id, professional_id, role) VALUES ($1, 'board-nurse', 'coordinating_nurse')`,
      [`board-${program}`],
    );
  }
  await db.pool.query(
    `INSERT INTO patient_consents (patient_id, professional_id, recorded_by) SELECT id, 'board-nurse', 'board-nurse' FROM patients`,
  );
  // accounts Grafana serves hold a live API credential (the scenario's rows have none)
  await db.pool.query(`UPDATE professionals SET token_hash = md5(id) WHERE token_hash IS NULL`);
  provisioner = new GrafanaPostgresScopes(db.pool, 'b'.repeat(40));
  scopes = await provisioner.sync();
});

afterAll(async () => {
  await Promise.all([...logins.values()].map((p) => p.end()));
  await provisioner?.dropAll();
  await Promise.all([db.drop(), influx.drop()]);
});

describe('board queries against seeded InfluxDB and PostgreSQL', () => {
  it('covers every panel, annotation and variable with an expectation, and nothing else', () => {
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.map((q) => q.id).sort()).toEqual(Object.keys(expectations).sort());
  });

  it.each(queries.map((q) => [q.id, q] as const))('%s returns the scenario', async (_id, q) => {
    const result = await run(q);
    expect(isEmpty(result), `${q.id} returned nothing`).toBe(false);
    expectations[q.id]!(result);
  });

  it('shows only the selected patient: pat-b on the patient board', async () => {
    const q = queries.find((x) => x.id === 'patient / Blood pressure / A')!;
    const r = await run(q, { ...contexts.patient, variables: { patient: { value: 'pat-b' } } });
    expect(values(only(r, 'systolic'))).toEqual([200, 200, 200, 200, 200]);
  });

  it('compares the patient by equality on the patient board: its variable is single-valued and an id holds no quote', () => {
    const board = buildBoard('patient') as unknown as {
      templating: { list: { name: string; multi?: boolean; includeAll?: boolean }[] };
    };
    const variable = board.templating.list.find((v) => v.name === 'patient')!;
    expect([variable.multi ?? false, variable.includeAll ?? false]).toEqual([false, false]);
    const influx = queries.filter((q) => q.board === 'patient' && q.datasource === 'influxdb');
    expect(influx.length).toBeGreaterThan(10);
    for (const q of influx) {
      expect(q.text, q.id).toContain(`"patient" = '$patient'`);
      expect(q.text, q.id).not.toContain('=~ /^$patient$/');
    }
    expect(patientIdSchema.safeParse("pat-a' OR 'x").success).toBe(false);
  });

  it('filters the worklist by the selected programs (multi-value variable)', async () => {
    const q = queries.find((x) => x.id === 'worklist / Worklist / A')!;
    const r = await run(q, {
      ...contexts.worklist,
      variables: { program: { value: ['cardiovascular_prevention', 'oral_chemotherapy'], multi: true } },
    });
    expect(rows(r).map((x) => x.patient)).toEqual(['pat-b', 'pat-c']);
  });

  it("lets Grafana read views that later migrations add to the grafana schema, with the reader's rights, after a sync", async () => {
    await db.pool.query('CREATE VIEW grafana.later_view WITH (security_invoker = true) AS SELECT 1 AS x');
    scopes = await provisioner!.sync();
    const q: BoardQuery = {
      id: 'probe',
      board: 'worklist',
      datasource: 'postgres',
      text: 'SELECT x FROM grafana.later_view',
      resultFormat: 'table',
    };
    expect(rows(await run(q))).toEqual([{ x: 1 }]);
  });

  it.each([
    ['cardio-1', ['pat-a']], // care team patient who consented
    ['nurse-1', ['pat-a']], // coordinating nurse: the HF program, with consent
    ['gp-1', []], // pat-b is in gp-1's team but did not consent
  ])("lists only the patients of %s through that professional's own Grafana login", async (login, expected) => {
    const variable = queries.find((x) => x.id === 'patient / variable / patient')!;
    expect(rows(await run(variable, { ...contexts.patient, user: { login } })).map((x) => x.__value)).toEqual(expected);
    const worklist = queries.find((x) => x.id === 'worklist / Worklist / A')!;
    expect(rows(await run(worklist, { ...contexts.worklist, user: { login } })).map((x) => x.patient)).toEqual(
      expected,
    );
  });

  it('gives no Grafana login to an administrator (no clinical data), nor to anyone who is not a professional', () => {
    expect(scopes.map((x) => x.professionalId)).not.toContain('admin-1');
    expect(() => loginOf('grafana-operator')).toThrow(/no Grafana login/);
  });

  it('reads PostgreSQL only through the grafana views', async () => {
    const q: BoardQuery = {
      id: 'probe',
      board: 'worklist',
      datasource: 'postgres',
      text: 'SELECT display_name FROM patients',
      resultFormat: 'table',
    };
    await expect(run(q)).rejects.toThrow(/permission denied/);
  });
});
