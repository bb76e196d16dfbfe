import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createCareTeamWithMembers, createPatient, createProfessional } from '../../hub/admin/provisioning';
import { GrafanaPostgresScopes } from '../../hub/security/grafana-postgres-scopes';
import {
  GRAFANA_INFLUX_DS,
  GRAFANA_POSTGRES_DS,
  grafanaScopeFiles,
  writeGrafanaScopeFiles,
} from '../../hub/security/grafana-provisioning';
import { boardQueries, runPostgres } from '../dashboards/board-queries';
import { createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * The hub provisions Grafana (docs/security.md "Grafana"): `vigil-hub grafana-provision` creates
 * the per-professional PostgreSQL logins; the provisioning files give each professional's
 * organisation its own data sources (uids the boards use) holding that professional's
 * credentials, and the main organisation none. The credential written in the file is the one
 * that logs in and reads, through a board query, that professional's patients only.
 */
const KEY = 'v'.repeat(40);
let db: TestPostgres;
let dir: string;

interface Ds {
  orgId: number;
  uid: string;
  type: string;
  user: string;
  url: string;
  jsonData: { database?: string; dbName?: string };
  secureJsonData: { password: string };
}

beforeAll(async () => {
  db = await createTestPostgres('vigil_gprov');
  dir = mkdtempSync(join(tmpdir(), 'vigil-grafana-prov-'));
  for (const id of ['PV-1', 'PV-2']) await createPatient(db.pool, { id, programId: 'heart_failure', displayName: id });
  await createCareTeamWithMembers(db.pool, {
    id: 'team-pv',
    programId: 'heart_failure',
    name: 'PV',
    patientIds: ['PV-1'],
    roles: ['cardiologist', 'dietitian'],
  });
  await createProfessional(db.pool, { id: 'pv-admin', displayName: 'A', role: 'admin' });
}, 120_000);

afterAll(async () => {
  await new GrafanaPostgresScopes(db.pool, KEY).dropAll();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Grafana provisioning by the hub', () => {
  it('vigil-hub grafana-provision creates the logins of the professionals with a Grafana scope only', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'hub/cli.ts', 'grafana-provision'],
      {
        env: {
          ...process.env,
          VIGIL_PG_URL: db.url,
          VIGIL_PROFILE: 'development',
          VIGIL_GRAFANA_SCOPE_KEY: KEY,
        },
      },
    );
    const report = JSON.parse(stdout) as { professionals: string[] };
    expect(report.professionals).toEqual(['team-pv-cardiologist']);
    const roles = await db.pool.query<{ professional_id: string }>(
      'SELECT professional_id FROM grafana_access.scope_roles',
    );
    expect(roles.rows).toEqual([{ professional_id: 'team-pv-cardiologist' }]);
  }, 60_000);

  it("writes one organisation's data sources per professional with their own credentials, none in the main one", async () => {
    const scopes = await new GrafanaPostgresScopes(db.pool, KEY).sync();
    const orgs = scopes.map((s, i) => ({
      professionalId: s.professionalId,
      orgId: 10 + i,
      postgres: s,
      influx: { database: `vigil_scope_${i}`, username: `grafana_${i}`, password: `influx-${i}` },
    }));
    const u = new URL(db.url);
    const files = writeGrafanaScopeFiles(
      dir,
      grafanaScopeFiles(orgs, {
        postgresHost: `${u.hostname}:${u.port}`,
        postgresDatabase: u.pathname.slice(1),
        postgresSslMode: 'disable',
        influxUrl: 'http://influxdb:8086',
      }),
    );
    expect(files.map((f) => statSync(f).mode & 0o037)).toEqual([0, 0]); // owner and group only: credentials
    const ds = (YAML.parse(readFileSync(join(dir, 'datasources/vigil-scopes.yaml'), 'utf8')) as { datasources: Ds[] })
      .datasources;
    expect(ds.map((d) => [d.orgId, d.uid, d.type])).toEqual([
      [10, GRAFANA_INFLUX_DS.uid, GRAFANA_INFLUX_DS.type],
      [10, GRAFANA_POSTGRES_DS.uid, GRAFANA_POSTGRES_DS.type],
    ]);
    expect(ds.some((d) => d.orgId === 1)).toBe(false);
    const providers = (
      YAML.parse(readFileSync(join(dir, 'dashboards/vigil-scopes.yaml'), 'utf8')) as { providers: { orgId: number }[] }
    ).providers;
    expect(providers.map((p) => p.orgId)).toEqual([1, 10]);

    // the PostgreSQL credential of the file logs in and reads, through the board's own query, PV-1 only
    const pgDs = ds.find((d) => d.uid === GRAFANA_POSTGRES_DS.uid)!;
    const login = new URL(db.url);
    login.username = pgDs.user;
    login.password = pgDs.secureJsonData.password;
    login.pathname = `/${pgDs.jsonData.database!}`;
    const pool = new pg.Pool({ connectionString: login.toString(), max: 1 });
    try {
      const variable = boardQueries('patient').find((q) => q.id === 'patient / variable / patient')!;
      const r = await runPostgres(
        variable,
        { from: new Date(0), to: new Date(), interval: '1h', variables: {}, user: { login: 'x' } },
        pool,
        { asLogin: true },
      );
      expect(r.kind === 'rows' ? r.rows.map((x) => x.__value) : r).toEqual(['PV-1']);
    } finally {
      await pool.end();
    }
  });
});
