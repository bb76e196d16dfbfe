import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
  bindDevice,
  revokeConsent,
  revokeProfessional,
  type CareRole,
} from '../../hub/admin/provisioning';
import { PHARMACIST_RULES } from '../../hub/api/authz';
import { buildApi } from '../../hub/api/app';
import { createHubMetrics } from '../../hub/observability/metrics';
import { refreshCohortAggregates } from '../../hub/reporting/cohort-refresh';
import {
  GrafanaPostgresScopes,
  scramVerifier,
  type GrafanaPostgresScope,
} from '../../hub/security/grafana-postgres-scopes';
import { boardQueries, runPostgres, type BoardQuery, type Row } from '../dashboards/board-queries';
import type { QueryContext } from '../dashboards/grafana-interpolate';
import { createTestPostgres, type TestPostgres } from '../support/stores';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';

/**
 * The PostgreSQL side of the Grafana path (docs/security.md "Grafana", migration 210): each
 * professional's own PostgreSQL login, running the SAME SQL the boards send (dashboards/boards,
 * interpolated as Grafana does), sees exactly the patients, episodes and boxes the API shows that
 * professional; a hand-written query for another team's patient returns nothing; withdrawing a
 * consent, leaving a team or being revoked takes effect at the next query; roles without a board
 * capability (admin, coaches) get no login at all.
 */
const KEY = 'p'.repeat(40);
const NOW = new Date();
const HOUR = 3_600_000;
let db: TestPostgres;
let store: TimeSeriesStore;
let api: FastifyInstance;
let provisioner: GrafanaPostgresScopes;
let scopes: GrafanaPostgresScope[] = [];
const tokens = new Map<string, string>();
const pools = new Map<string, pg.Pool>();
const PATIENTS = ['RA-1', 'RA-2', 'RB-1'];
const ROLES_A: CareRole[] = [
  'coordinating_nurse',
  'oncologist',
  'general_practitioner',
  'pharmacist',
  'home_nurse',
  'coaching_nurse',
  'dietitian',
];
const TREATMENT_RULE = [...PHARMACIST_RULES][0]!;

const queries = (['patient', 'worklist', 'fleet'] as const)
  .flatMap(boardQueries)
  .filter((q) => q.datasource === 'postgres');
const query = (id: string): BoardQuery => queries.find((q) => q.id === id)!;
const ctx = (patient = ''): QueryContext => ({
  from: new Date(NOW.getTime() - 30 * 86_400_000),
  to: NOW,
  interval: '1h',
  variables: {
    patient: { value: patient },
    program: { value: ['oral_chemotherapy'], multi: true, includeAll: true },
  },
  user: { login: 'whoever' },
});

/** A pool logged in as the professional's Grafana PostgreSQL login (what Grafana's data source holds). */
function poolFor(s: GrafanaPostgresScope): pg.Pool {
  let p = pools.get(s.roleName);
  if (!p) {
    const u = new URL(db.url);
    u.username = s.roleName;
    u.password = s.password;
    p = new pg.Pool({ connectionString: u.toString(), max: 2 });
    // a dropped login's sessions are terminated by the hub: Grafana, like this pool, sees an error
    p.on('error', () => undefined);
    pools.set(s.roleName, p);
  }
  return p;
}
const scopeOf = (id: string) => scopes.find((s) => s.professionalId === id)!;
const asGrafana = async (s: GrafanaPostgresScope, q: BoardQuery, patient = ''): Promise<Row[]> => {
  const r = await runPostgres(q, ctx(patient), poolFor(s), { asLogin: true });
  if (r.kind !== 'rows') throw new Error('rows expected');
  return r.rows;
};

/** What Grafana shows a professional, through the boards' own queries. */
async function grafanaView(s: GrafanaPostgresScope) {
  const patients = (await asGrafana(s, query('patient / variable / patient'))).map((r) => String(r.__value)).sort();
  const worklist = (await asGrafana(s, query('worklist / Worklist / A'))).map((r) => String(r.patient)).sort();
  const episodes = (await asGrafana(s, query('worklist / Open episodes / A')))
    .map((r) => `${String(r.patient)}/${String(r.rule)}`)
    .sort();
  const perPatientEpisodes: string[] = [];
  const adherence: Record<string, number> = {};
  for (const p of PATIENTS) {
    for (const r of await asGrafana(s, query('patient / Alert episodes / A'), p))
      perPatientEpisodes.push(`${p}/${String(r.rule)}`);
    const a = await asGrafana(s, query('patient / Days with data in the last 30 / A'), p);
    if (a.length) adherence[p] = Number(a[0]!['days with data']);
  }
  const gateways = (await asGrafana(s, query('fleet / Gateways / A'))).map((r) => String(r.gateway)).sort();
  return { patients, worklist, episodes, perPatientEpisodes: perPatientEpisodes.sort(), adherence, gateways };
}

/** What the API shows the same professional. */
async function apiView(professionalId: string) {
  const auth = { authorization: `Bearer ${tokens.get(professionalId)!}` };
  const patients: string[] = [];
  const adherence: Record<string, number> = {};
  const gateways: string[] = [];
  for (const p of PATIENTS) {
    const a = await api.inject({ method: 'GET', url: `/api/patients/${p}/adherence`, headers: auth });
    if (a.statusCode === 200) adherence[p] = a.json<{ daysWithData: number }>().daysWithData;
    const al = await api.inject({ method: 'GET', url: `/api/alerts?status=active&patientId=${p}`, headers: auth });
    const hasAlerts = al.statusCode === 200 && al.json<{ episodes: unknown[] }>().episodes.length > 0;
    if (a.statusCode === 200 || hasAlerts) patients.push(p);
    const d = await api.inject({ method: 'GET', url: `/api/patients/${p}/devices`, headers: auth });
    if (d.statusCode === 200) gateways.push(`gw-${p.toLowerCase()}`);
  }
  const al = await api.inject({ method: 'GET', url: '/api/alerts?status=active', headers: auth });
  const episodes =
    al.statusCode === 200
      ? al
          .json<{ episodes: { patientId: string; ruleId: string }[] }>()
          .episodes.map((e) => `${e.patientId}/${e.ruleId}`)
          .sort()
      : [];
  return { patients: patients.sort(), episodes, adherence, gateways: gateways.sort() };
}

beforeAll(async () => {
  db = await createTestPostgres('vigil_gpg');
  // the routes compared here read PostgreSQL only; the store is never reached
  store = new TimeSeriesStore('http://127.0.0.1:9', 'unused');
  for (const id of PATIENTS)
    await createPatient(db.pool, { id, programId: 'oral_chemotherapy', displayName: `Secret Name ${id}` });
  const teamA = await createCareTeamWithMembers(db.pool, {
    id: 'team-ra',
    programId: 'oral_chemotherapy',
    name: 'A',
    patientIds: ['RA-1', 'RA-2'],
    roles: ROLES_A,
  });
  const teamB = await createCareTeamWithMembers(db.pool, {
    id: 'team-rb',
    programId: 'oral_chemotherapy',
    name: 'B',
    patientIds: ['RB-1'],
    roles: ['oncologist', 'home_nurse'],
  });
  for (const t of [teamA, teamB]) for (const v of Object.values(t)) tokens.set(v.professionalId, v.token);
  tokens.set(
    'rg-admin',
    (await createProfessional(db.pool, { id: 'rg-admin', displayName: 'A', role: 'admin' })).token,
  );
  tokens.set(
    'rg-gone',
    (await createProfessional(db.pool, { id: 'rg-gone', displayName: 'G', role: 'oncologist' })).token,
  );
  await revokeProfessional(db.pool, 'rg-gone');
  // RA-2 withdrew her consent to team A's GP
  await revokeConsent(db.pool, { patientId: 'RA-2', professionalId: 'team-ra-general-practitioner' });
  // boxes, devices, readings (days with data) and open episodes: one treatment rule, one other
  let n = 0;
  for (const [i, p] of PATIENTS.entries()) {
    await createGateway(db.pool, { id: `gw-${p.toLowerCase()}`, patientId: p });
    await bindDevice(db.pool, {
      gatewayId: `gw-${p.toLowerCase()}`,
      address: `C0:00:00:00:00:0${i + 1}`,
      patientId: p,
    });
    for (let d = 0; d < i + 2; d++)
      for (const metric of ['body_temperature', 'heart_rate'])
        await db.pool.query(
          `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
           VALUES ($1, $2, $3, 'C0:00:00:00:00:01', 'sim', $4, 37, 'u', $5, now())`,
          [`r${n++}`, p, `gw-${p.toLowerCase()}`, metric, new Date(NOW.getTime() - (d * 24 + 1) * HOUR)],
        );
    for (const rule of [TREATMENT_RULE, 'bp-crisis'])
      await db.pool.query(
        `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, opened_at) VALUES ($1, $2, 'red', 'open', $3)`,
        [p, rule, new Date(NOW.getTime() - 2 * HOUR)],
      );
  }
  api = await buildApi({ pool: db.pool, timeseries: store, metrics: createHubMetrics(), logLevel: 'silent' });
  provisioner = new GrafanaPostgresScopes(db.pool, KEY);
  scopes = await provisioner.sync();
}, 120_000);

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.end()));
  await provisioner.dropAll();
  await api.close();
  await store.close();
  await db.drop();
});

describe('Grafana PostgreSQL path: one login per professional, rows by row-level security', () => {
  it('gives a login to every professional with a board capability, and none to admins, coaches or revoked accounts', () => {
    expect(scopes.map((s) => s.professionalId).sort()).toEqual(
      [
        'team-ra-coordinating-nurse',
        'team-ra-general-practitioner',
        'team-ra-home-nurse',
        'team-ra-oncologist',
        'team-ra-pharmacist',
        'team-rb-home-nurse',
        'team-rb-oncologist',
      ].sort(),
    );
  });

  it('stores a SCRAM verifier of the provisioned password, never the password', async () => {
    const s = scopes[0]!;
    const { rows } = await db.pool.query<{ v: string }>('SELECT rolpassword AS v FROM pg_authid WHERE rolname = $1', [
      s.roleName,
    ]);
    const v = rows[0]!.v;
    expect(v.startsWith('SCRAM-SHA-256$4096:')).toBe(true);
    const salt = Buffer.from(/\$4096:([^$]+)\$/.exec(v)![1]!, 'base64');
    expect(scramVerifier(s.password, salt)).toBe(v);
    expect(v).not.toContain(s.password);
  });

  it('for every professional, the boards queries show exactly what the API shows (patients, episodes, adherence, boxes)', async () => {
    for (const s of scopes) {
      const g = await grafanaView(s);
      const a = await apiView(s.professionalId);
      expect(g.patients, s.professionalId).toEqual(a.patients);
      expect(g.worklist, s.professionalId).toEqual(a.patients);
      expect(g.episodes, s.professionalId).toEqual(a.episodes);
      expect(g.perPatientEpisodes, s.professionalId).toEqual(a.episodes);
      expect(g.adherence, s.professionalId).toEqual(a.adherence);
      expect(g.gateways, s.professionalId).toEqual(a.gateways);
    }
    // spot checks that the comparison is not vacuous
    const onc = await grafanaView(scopeOf('team-ra-oncologist'));
    expect(onc.patients).toEqual(['RA-1', 'RA-2']);
    expect(onc.episodes).toHaveLength(4);
    expect((await grafanaView(scopeOf('team-ra-general-practitioner'))).patients).toEqual(['RA-1']);
    expect((await grafanaView(scopeOf('team-ra-pharmacist'))).episodes).toEqual([
      `RA-1/${TREATMENT_RULE}`,
      `RA-2/${TREATMENT_RULE}`,
    ]);
    expect((await grafanaView(scopeOf('team-rb-oncologist'))).patients).toEqual(['RB-1']);
  }, 300_000);

  it("a hand-written query for another team's patient returns nothing, and base columns beyond the views are refused", async () => {
    const b = poolFor(scopeOf('team-rb-oncologist'));
    for (const sql of [
      `SELECT * FROM grafana.episodes WHERE patient_id = 'RA-1'`,
      `SELECT * FROM grafana.patient_directory WHERE patient_id LIKE 'RA%'`,
      `SELECT * FROM grafana.last_reading WHERE patient_id = 'RA-1'`,
      `SELECT * FROM grafana.fleet_gateways WHERE patient_id = 'RA-1'`,
      `SELECT patient_id FROM reading_ledger WHERE patient_id = 'RA-1'`,
      `SELECT id FROM patients WHERE id = 'RA-1'`,
      `SELECT patient_id FROM alert_episodes WHERE patient_id = 'RA-1'`,
      `SELECT * FROM grafana_access.scope_patients('trends.read') AS x WHERE x = 'RA-1'`,
    ])
      expect((await b.query(sql).catch(() => ({ rows: [] }))).rows, sql).toEqual([]);
    await expect(b.query(`SELECT display_name FROM patients`)).rejects.toThrow(/permission denied/);
    await expect(b.query(`SELECT value FROM reading_ledger`)).rejects.toThrow(/permission denied/);
    await expect(b.query(`SELECT * FROM grafana_access.scope_roles`)).rejects.toThrow(/permission denied/);
    // switching to the group role changes nothing: the scope follows the login
    const c = await b.connect();
    try {
      await c.query('SET ROLE vigil_grafana');
      expect((await c.query(`SELECT id FROM patients`)).rows).toEqual([{ id: 'RB-1' }]);
    } finally {
      await c.query('RESET ROLE');
      c.release();
    }
    await expect(
      b.query(`INSERT INTO alert_episodes (patient_id, rule_id, severity, status) VALUES ('RB-1', 'x', 'red', 'open')`),
    ).rejects.toThrow(/read-only|permission denied/);
  });

  it('consent withdrawal, leaving the team and revocation take effect at the next query; a new sync drops the login', async () => {
    const onc = scopeOf('team-ra-oncologist');
    await revokeConsent(db.pool, { patientId: 'RA-1', professionalId: onc.professionalId });
    expect((await grafanaView(onc)).patients).toEqual(['RA-2']);
    const nurse = scopeOf('team-ra-home-nurse');
    await db.pool.query('DELETE FROM care_team_members WHERE professional_id = $1', [nurse.professionalId]);
    const gone = await grafanaView(nurse);
    expect([gone.patients, gone.episodes, gone.gateways]).toEqual([[], [], []]);
    const ph = scopeOf('team-ra-pharmacist');
    await revokeProfessional(db.pool, ph.professionalId);
    expect((await grafanaView(ph)).episodes).toEqual([]);
    scopes = await provisioner.sync();
    expect(scopes.map((s) => s.professionalId)).not.toContain(ph.professionalId);
    const { rows } = await db.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ph.roleName]);
    expect(rows).toEqual([]);
  }, 120_000);

  it('rotation changes the password (a new generation); a plain sync leaves the login untouched', async () => {
    const before = scopeOf('team-rb-oncologist');
    const verifier = async () =>
      (
        await db.pool.query<{ v: string }>('SELECT rolpassword AS v FROM pg_authid WHERE rolname = $1', [
          before.roleName,
        ])
      ).rows[0]!.v;
    const v0 = await verifier();
    scopes = await provisioner.sync();
    expect(await verifier()).toBe(v0);
    scopes = await provisioner.sync({ rotate: [before.professionalId] });
    const after = scopeOf('team-rb-oncologist');
    expect(after.generation).toBe(before.generation + 1);
    expect(after.password).not.toBe(before.password);
    expect(await verifier()).not.toBe(v0);
  });

  it('the hub keeps every row: as the owner (backups read with row security off) and as a non-owner role', async () => {
    const TABLES = ['patients', 'reading_ledger', 'alert_episodes', 'gateways', 'device_bindings'];
    const rls = await db.pool.query<{ relname: string; force: boolean }>(
      `SELECT relname, relforcerowsecurity AS force FROM pg_class WHERE relrowsecurity AND relname = ANY ($1) ORDER BY relname`,
      [TABLES],
    );
    expect(rls.rows.map((r) => r.relname)).toEqual([...TABLES].sort());
    expect(rls.rows.every((r) => !r.force)).toBe(true);
    const stamp = Date.now().toString(36);
    const owner = `vgf_test_owner_${stamp}`;
    const other = `vgf_test_hub_${stamp}`;
    const me = (await db.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    await db.pool.query(`CREATE ROLE ${owner} LOGIN NOSUPERUSER`);
    await db.pool.query(`CREATE ROLE ${other} LOGIN NOSUPERUSER`);
    const as = async (role: string, fn: (c: pg.Client) => Promise<void>) => {
      const u = new URL(db.url);
      u.username = role;
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      try {
        await fn(c);
      } finally {
        await c.end();
      }
    };
    try {
      for (const t of TABLES) await db.pool.query(`ALTER TABLE ${t} OWNER TO ${owner}`);
      await as(owner, async (c) => {
        // what pg_dump does: row security off, which only a role that bypasses it may do
        await c.query('SET row_security = off');
        expect((await c.query('SELECT id FROM patients')).rows).toHaveLength(3);
        await c.query(`UPDATE alert_episodes SET assignee = 'x' WHERE patient_id = 'RA-1'`);
      });
      for (const t of TABLES) await db.pool.query(`GRANT SELECT, UPDATE ON ${t} TO ${other}`);
      await as(other, async (c) => {
        expect((await c.query('SELECT id FROM patients')).rows).toHaveLength(3);
        await c.query(`UPDATE alert_episodes SET assignee = 'y' WHERE patient_id = 'RA-1'`);
        expect((await c.query(`SELECT count(*)::int AS n FROM alert_episodes WHERE assignee = 'y'`)).rows[0]).toEqual({
          n: 2,
        });
      });
    } finally {
      for (const t of TABLES) await db.pool.query(`ALTER TABLE ${t} OWNER TO ${me}`);
      for (const r of [owner, other]) {
        await db.pool.query(`DROP OWNED BY ${r}`);
        await db.pool.query(`DROP ROLE ${r}`);
      }
    }
  });

  it('grants Grafana only views that run with the reader rights (a later owner-rights view stays closed)', async () => {
    await db.pool.query('CREATE VIEW grafana.later_owner_view AS SELECT id FROM patients');
    await db.pool.query(
      'CREATE VIEW grafana.later_invoker_view WITH (security_invoker = true) AS SELECT id FROM patients',
    );
    scopes = await provisioner.sync();
    const b = poolFor(scopeOf('team-rb-oncologist'));
    await expect(b.query('SELECT * FROM grafana.later_owner_view')).rejects.toThrow(/permission denied/);
    expect((await b.query('SELECT * FROM grafana.later_invoker_view')).rows).toEqual([{ id: 'RB-1' }]);
  });

  it("the cohort board: a coordinating nurse sees her own teams' aggregates only, other logins none (as reports.read)", async () => {
    await refreshCohortAggregates(db.pool);
    const teams = async (pool: pg.Pool) =>
      [
        ...new Set(
          (await pool.query<{ t: string }>('SELECT care_team_id AS t FROM grafana.cohort_monthly')).rows.map(
            (r) => r.t,
          ),
        ),
      ].sort();
    // the hub keeps every team; the aggregates exist for both
    expect(await teams(db.pool)).toEqual(['team-ra', 'team-rb']);
    expect(await teams(poolFor(scopeOf('team-ra-coordinating-nurse')))).toEqual(['team-ra']);
    for (const other of ['team-ra-oncologist', 'team-ra-general-practitioner', 'team-rb-oncologist'])
      expect(await teams(poolFor(scopeOf(other))), other).toEqual([]);
    // the board's own team variable, as Grafana sends it
    const variable = boardQueries('cohort').find((q) => q.id === 'cohort / variable / care_team');
    expect(variable, 'the cohort board has a team variable').toBeDefined();
    if (variable) {
      const r = await runPostgres(variable, ctx(), poolFor(scopeOf('team-ra-coordinating-nurse')), { asLogin: true });
      expect(r.kind === 'rows' ? r.rows.map((x) => String(x.__value)) : r).toEqual(['team-ra']);
    }
    // the aggregates themselves are out of reach
    await expect(
      poolFor(scopeOf('team-ra-coordinating-nurse')).query('SELECT * FROM grafana_access.cohort_monthly_all'),
    ).rejects.toThrow(/permission denied/);
  });
});
