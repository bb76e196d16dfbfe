import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createPublicKey, verify } from 'node:crypto';
import { createCareTeamWithMembers, createPatient, createProfessional } from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { createHubMetrics } from '../../hub/observability/metrics';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { loadHubConfig } from '../../hub/config/load';
import { GrafanaPostgresScopes } from '../../hub/security/grafana-postgres-scopes';
import { syncGrafana } from '../../hub/security/grafana-sync';
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
let team: Awaited<ReturnType<typeof createCareTeamWithMembers>>;

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
  team = await createCareTeamWithMembers(db.pool, {
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

  /**
   * No Grafana runs on the test machines: this server answers the calls of Grafana's documented
   * Organization, User and Admin HTTP APIs (paths and bodies as Grafana 12 documents them) with
   * an in-memory state, so the sequence the hub runs is checked end to end; docs/security.md says
   * this part is not exercised against a real Grafana.
   */
  it('makes one organisation and Viewer user per professional, removes those out of scope, writes and reloads', async () => {
    const orgs = new Map<number, string>([
      [1, 'Main Org.'],
      [7, 'Vigil gone-professional'],
    ]);
    const users = new Map<number, { login: string; orgs: Set<number> }>([
      [3, { login: 'gone-professional', orgs: new Set([7]) }],
    ]);
    const calls: string[] = [];
    let next = 20;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const url = new URL(req.url!, 'http://x');
        const send = (status: number, json: unknown): true => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
          return true;
        };
        calls.push(`${req.method} ${url.pathname}`);
        if (req.headers.authorization !== `Basic ${Buffer.from('admin:grafana-admin-pw').toString('base64')}`)
          return send(401, { message: 'unauthorized' });
        const b = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
        let m: RegExpExecArray | null;
        if (req.method === 'GET' && url.pathname === '/api/orgs')
          return send(
            200,
            [...orgs].map(([id, name]) => ({ id, name })),
          );
        if (req.method === 'POST' && url.pathname === '/api/orgs') {
          const id = next++;
          orgs.set(id, String(b.name));
          return send(200, { orgId: id, message: 'Organization created' });
        }
        if (req.method === 'GET' && url.pathname === '/api/users/lookup') {
          const u = [...users].find(([, v]) => v.login === url.searchParams.get('loginOrEmail'));
          return u ? send(200, { id: u[0], login: u[1].login }) : send(404, { message: 'user not found' });
        }
        if (req.method === 'POST' && url.pathname === '/api/admin/users') {
          const id = next++;
          // Grafana puts a new user in the main organisation as well as the one asked
          users.set(id, { login: String(b.login), orgs: new Set([1, Number(b.OrgId)]) });
          return send(200, { id, message: 'User created' });
        }
        if (req.method === 'POST' && (m = /^\/api\/orgs\/(\d+)\/users$/.exec(url.pathname))) {
          const u = [...users].find(([, v]) => v.login === b.loginOrEmail)!;
          if (u[1].orgs.has(Number(m[1]))) return send(409, { message: 'User is already member of this organization' });
          u[1].orgs.add(Number(m[1]));
          return send(200, { message: 'User added to organization' });
        }
        if (req.method === 'GET' && (m = /^\/api\/users\/(\d+)\/orgs$/.exec(url.pathname)))
          return send(
            200,
            [...users.get(Number(m[1]))!.orgs].map((orgId) => ({ orgId, name: orgs.get(orgId), role: 'Viewer' })),
          );
        if (req.method === 'DELETE' && (m = /^\/api\/orgs\/(\d+)\/users\/(\d+)$/.exec(url.pathname))) {
          users.get(Number(m[2]))?.orgs.delete(Number(m[1]));
          return send(200, { message: 'User removed from organization' });
        }
        if (req.method === 'DELETE' && (m = /^\/api\/admin\/users\/(\d+)$/.exec(url.pathname))) {
          users.delete(Number(m[1]));
          return send(200, { message: 'User deleted' });
        }
        if (req.method === 'DELETE' && (m = /^\/api\/orgs\/(\d+)$/.exec(url.pathname))) {
          orgs.delete(Number(m[1]));
          return send(200, { message: 'Organization deleted' });
        }
        if (req.method === 'POST' && url.pathname.startsWith('/api/admin/provisioning/'))
          return send(200, { message: 'reloaded' });
        return send(404, { message: 'not found' });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const out = mkdtempSync(join(tmpdir(), 'vigil-grafana-sync-'));
    try {
      const config = loadHubConfig({
        env: {},
        overrides: {
          profile: 'development',
          postgres: { url: db.url },
          influx: {},
          mqtt: {},
          http: {},
          grafana: {
            scopeKey: KEY,
            postgresScopes: true,
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            adminPassword: 'grafana-admin-pw',
            provisioningDir: out,
          },
        },
      });
      const report = await syncGrafana(db.pool, undefined, config);
      expect(report.professionals).toEqual(['team-pv-cardiologist']);
      expect(report.removed).toEqual(['gone-professional']);
      const orgId = report.organisations['team-pv-cardiologist']!;
      expect([...orgs]).toEqual([
        [1, 'Main Org.'],
        [orgId, 'Vigil team-pv-cardiologist'],
      ]);
      // the professional's user: login = professional id, in their organisation only
      expect([...users.values()].map((u) => [u.login, [...u.orgs]])).toEqual([['team-pv-cardiologist', [orgId]]]);
      const ds = (YAML.parse(readFileSync(join(out, 'datasources/vigil-scopes.yaml'), 'utf8')) as { datasources: Ds[] })
        .datasources;
      expect(ds.map((d) => [d.orgId, d.uid])).toEqual([[orgId, GRAFANA_POSTGRES_DS.uid]]);
      expect(calls.slice(-2)).toEqual([
        'POST /api/admin/provisioning/datasources/reload',
        'POST /api/admin/provisioning/dashboards/reload',
      ]);

      // sign-in: the hub's login link for the cardiologist carries a JWT that the public key the
      // hub wrote for Grafana ([auth.jwt] key_file) verifies, with sub = the Grafana user's login
      const publicKey = createPublicKey(readFileSync(join(out, 'jwt-public.pem'), 'utf8'));
      const store = new TimeSeriesStore('http://127.0.0.1:9', 'unused');
      const api = await buildApi({
        pool: db.pool,
        timeseries: store,
        metrics: createHubMetrics(),
        logLevel: 'silent',
        grafanaLogin: { scopeKey: KEY, publicUrl: 'https://grafana.example.org/' },
      });
      try {
        const session = async (token: string) =>
          api.inject({ method: 'POST', url: '/api/grafana/session', headers: { authorization: `Bearer ${token}` } });
        const res = await session(team.cardiologist.token);
        expect(res.statusCode).toBe(200);
        const { url, token } = res.json<{ url: string; token: string }>();
        expect(new URL(url).searchParams.get('auth_token')).toBe(token);
        const [h, b, sig] = token.split('.') as [string, string, string];
        expect(
          verify(
            'sha256',
            Buffer.from(`${h}.${b}`),
            { key: publicKey, dsaEncoding: 'ieee-p1363' },
            Buffer.from(sig, 'base64url'),
          ),
        ).toBe(true);
        const claims = JSON.parse(Buffer.from(b, 'base64url').toString('utf8')) as Record<string, unknown>;
        expect(claims).toMatchObject({ sub: 'team-pv-cardiologist', aud: 'vigil-grafana' });
        expect(Number(claims.exp) - Number(claims.iat)).toBe(60);
        // a tampered token does not verify
        const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
        expect(
          verify(
            'sha256',
            Buffer.from(`${h}.${forged}`),
            { key: publicKey, dsaEncoding: 'ieee-p1363' },
            Buffer.from(sig, 'base64url'),
          ),
        ).toBe(false);
        // no Grafana for a coach (no board capability)
        expect((await session(team.dietitian.token)).statusCode).toBe(403);
      } finally {
        await api.close();
        await store.close();
      }
    } finally {
      server.close();
      rmSync(out, { recursive: true, force: true });
    }
  });
});
