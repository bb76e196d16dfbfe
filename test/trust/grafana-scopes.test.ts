import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { InfluxDB } from 'influx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricName } from '../../contract';
import {
  createCareTeamWithMembers,
  createPatient,
  createProfessional,
  revokeConsent,
  revokeProfessional,
  type CareRole,
} from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { createHubMetrics } from '../../hub/observability/metrics';
import { GrafanaInfluxScopes, type GrafanaScope } from '../../hub/security/grafana-scopes';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { ensureInfluxd, type InfluxdHandle } from '../../scripts/lib/influxd';
import { freePort } from '../fault/support';
import { createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * The Grafana path (docs/security.md "Grafana"): an InfluxDB with authentication on, the hub's
 * all-patients credential kept to the hub, and each professional's Grafana credential (the one the
 * hub provisions into the professional's Grafana data source) queried with the queries Grafana
 * sends. Each credential sees exactly the patients and metrics the API shows that professional,
 * and nothing else: not the hub's database, not another professional's projection.
 */
const ADMIN = { username: 'vigil_admin', password: 'admin-password-for-the-test-only' };
const KEY = 'k'.repeat(40);
let influxd: InfluxdHandle;
let dataDir: string;
let pg: TestPostgres;
let store: TimeSeriesStore;
let api: FastifyInstance;
let scopes: GrafanaScope[] = [];
const tokens = new Map<string, string>();
const T0 = Date.UTC(2026, 0, 5, 8);

const client = (username?: string, password?: string, database?: string) =>
  new InfluxDB({
    host: '127.0.0.1',
    port: influxd.port,
    database: database ?? 'vigil',
    ...(username ? { username, password: password ?? '' } : {}),
  });

/** What Grafana sends: the patient variable's query, then a panel query per metric. */
async function grafanaView(s: GrafanaScope): Promise<Map<string, Set<MetricName>>> {
  const c = client(s.username, s.password, s.database);
  const seen = new Map<string, Set<MetricName>>();
  const tags = (await c.queryRaw('SHOW TAG VALUES WITH KEY = "patient"')) as {
    results: { series?: { values: string[][] }[] }[];
  };
  for (const v of tags.results[0]?.series?.flatMap((x) => x.values) ?? []) seen.set(v[1]!, new Set());
  for (const patient of seen.keys()) {
    const raw = (await c.queryRaw(
      `SELECT mean("value") FROM /.*/ WHERE "patient" = '${patient}' AND time >= ${T0 - 86_400_000}ms AND time <= ${T0 + 10 * 86_400_000}ms GROUP BY time(1d) fill(none)`,
    )) as { results: { series?: { name: string }[] }[] };
    for (const x of raw.results[0]?.series ?? []) seen.get(patient)!.add(x.name as MetricName);
  }
  return seen;
}

/** What the API shows the same professional: per patient, the metrics of readings or trends it answers 200 for. */
async function apiView(professionalId: string, patients: string[], metrics: MetricName[]) {
  const token = tokens.get(professionalId)!;
  const seen = new Map<string, Set<MetricName>>();
  for (const patient of patients)
    for (const metric of metrics) {
      const res = await api.inject({
        method: 'GET',
        url: `/api/patients/${patient}/trends?metric=${metric}&days=365`,
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.statusCode !== 200) continue;
      const days = res.json<{ days: unknown[] }>().days;
      if (days.length === 0) continue;
      seen.set(patient, (seen.get(patient) ?? new Set()).add(metric));
    }
  return seen;
}

const PATIENTS = ['GA-1', 'GA-2', 'GB-1'];
const METRICS: MetricName[] = ['body_temperature', 'body_weight', 'heart_rate', 'spo2'];

beforeAll(async () => {
  dataDir = mkdtempSync(join(process.cwd(), '.data', 'influxd-auth-'));
  influxd = await ensureInfluxd({ port: await freePort(), dataDir, auth: true });
  // the first user of an auth-enabled InfluxDB is created without credentials, then auth applies
  await client().queryRaw(`CREATE USER "${ADMIN.username}" WITH PASSWORD '${ADMIN.password}' WITH ALL PRIVILEGES`);
  pg = await createTestPostgres('vigil_gscope');
  store = new TimeSeriesStore(influxd.url, 'vigil', ADMIN);
  await store.ensureDatabase();
  for (const id of PATIENTS)
    await createPatient(pg.pool, { id, programId: 'oral_chemotherapy', displayName: `P ${id}` });
  const teamA = await createCareTeamWithMembers(pg.pool, {
    id: 'team-ga',
    programId: 'oral_chemotherapy',
    name: 'A',
    patientIds: ['GA-1', 'GA-2'],
    roles: ['oncologist', 'general_practitioner', 'pharmacist', 'home_nurse'] as CareRole[],
  });
  const teamB = await createCareTeamWithMembers(pg.pool, {
    id: 'team-gb',
    programId: 'oral_chemotherapy',
    name: 'B',
    patientIds: ['GB-1'],
    roles: ['oncologist'] as CareRole[],
  });
  for (const v of Object.values(teamA)) tokens.set(v.professionalId, v.token);
  tokens.set(teamB.oncologist.professionalId, teamB.oncologist.token);
  const admin = await createProfessional(pg.pool, { id: 'ga-admin', displayName: 'Admin', role: 'admin' });
  tokens.set('ga-admin', admin.token);
  // GA-2 withdrew her consent to team A's GP only
  await revokeConsent(pg.pool, { patientId: 'GA-2', professionalId: teamA.general_practitioner.professionalId });
  // a revoked professional keeps no Grafana access
  const gone = await createProfessional(pg.pool, { id: 'ga-gone', displayName: 'Gone', role: 'oncologist' });
  tokens.set('ga-gone', gone.token);
  await revokeProfessional(pg.pool, 'ga-gone');
  let n = 0;
  for (const patient of PATIENTS)
    for (const [k, metric] of METRICS.entries())
      await store.writeNow([
        {
          measurement: metric,
          tags: { patient, gateway: `gw-${patient.toLowerCase()}`, device: 'C0:00:00:00:00:01', driver: 'sim' },
          fields: { value: 36 + k, reading_id: `r${n++}` },
          timestamp: new Date(T0 + k * 3_600_000),
        },
      ]);
  // the API's trends read the rollups (hub/storage/influx/trends.ts): compute them as the hub's
  // continuous queries would
  await store.backfillDaily(new Date(T0), new Date(T0 + METRICS.length * 3_600_000));
  // the ledger holds the same readings (as the hub files them)
  n = 0;
  for (const patient of PATIENTS)
    for (const [k, metric] of METRICS.entries())
      await pg.pool.query(
        `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
         VALUES ($1, $2, $3, 'C0:00:00:00:00:01', 'sim', $4, $5, 'u', $6, now())`,
        [`r${n++}`, patient, `gw-${patient.toLowerCase()}`, metric, 36 + k, new Date(T0 + k * 3_600_000)],
      );
  api = await buildApi({ pool: pg.pool, timeseries: store, metrics: createHubMetrics(), logLevel: 'silent' });
  scopes = await new GrafanaInfluxScopes(pg.pool, client(ADMIN.username, ADMIN.password), 'vigil', KEY).sync();
}, 120_000);

afterAll(async () => {
  await api.close();
  await store.close();
  await pg.drop();
  await influxd.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Grafana path: each professional credential sees only what the API shows', () => {
  it('InfluxDB refuses anonymous queries', async () => {
    await expect(client(undefined, undefined, 'vigil').queryRaw('SHOW MEASUREMENTS')).rejects.toThrow(
      /auth|unable to parse|credentials/i,
    );
  });

  it('gives no Grafana credential to the admin or a revoked professional (fail closed)', () => {
    expect(scopes.map((s) => s.professionalId)).not.toContain('ga-admin');
    expect(scopes.map((s) => s.professionalId)).not.toContain('ga-gone');
    expect(scopes.length).toBe(5);
  });

  it('for every professional, the Grafana view equals the API view (patients x metrics)', async () => {
    for (const s of scopes) {
      const g = await grafanaView(s);
      const a = await apiView(s.professionalId, PATIENTS, METRICS);
      const flat = (m: Map<string, Set<MetricName>>) =>
        [...m].flatMap(([p, ms]) => [...ms].map((x) => `${p}/${x}`)).sort();
      expect(flat(g), s.professionalId).toEqual(flat(a));
    }
    const byRole = (role: string) => scopes.find((s) => s.role === role && s.professionalId.startsWith('team-ga'))!;
    // the GP of team A: GA-1 only (GA-2 withdrew her consent to him), daily means only
    expect([...(await grafanaView(byRole('general_practitioner'))).keys()]).toEqual(['GA-1']);
    expect(byRole('general_practitioner').granularity).toBe('daily');
    // the pharmacist: treatment metrics only
    const ph = await grafanaView(byRole('pharmacist'));
    expect([...ph.get('GA-1')!].sort()).toEqual(['body_temperature', 'body_weight']);
    // team B's oncologist: GB-1 only
    const b = scopes.find((s) => s.professionalId.startsWith('team-gb'))!;
    expect([...(await grafanaView(b)).keys()]).toEqual(['GB-1']);
  });

  it("a professional's credential cannot read the hub's database nor another professional's projection", async () => {
    const [a, b] = scopes;
    await expect(client(a!.username, a!.password, 'vigil').queryRaw('SELECT * FROM /.*/ LIMIT 1')).rejects.toThrow(
      /not authorized|authorization/i,
    );
    await expect(client(a!.username, a!.password, b!.database).queryRaw('SELECT * FROM /.*/ LIMIT 1')).rejects.toThrow(
      /not authorized|authorization/i,
    );
    await expect(client(a!.username, 'wrong', a!.database).queryRaw('SHOW MEASUREMENTS')).rejects.toThrow();
  });

  it('after a consent withdrawal and the next sync, the patient disappears from that Grafana view', async () => {
    const onc = scopes.find((s) => s.professionalId === 'team-ga-oncologist')!;
    expect([...(await grafanaView(onc)).keys()].sort()).toEqual(['GA-1', 'GA-2']);
    await revokeConsent(pg.pool, { patientId: 'GA-1', professionalId: 'team-ga-oncologist' });
    scopes = await new GrafanaInfluxScopes(pg.pool, client(ADMIN.username, ADMIN.password), 'vigil', KEY).sync();
    expect([...(await grafanaView(scopes.find((s) => s.professionalId === 'team-ga-oncologist')!)).keys()]).toEqual([
      'GA-2',
    ]);
  });
});
