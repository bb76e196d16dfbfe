/**
 * Issue 17 item 3: the compiled hub (dist/hub.mjs) and the gateway bundle (dist/gateway.mjs, run
 * with the box's V8 flags) on plain `node`, no TypeScript loader: `npm run build`'s output, end to
 * end on real services: virtual cuff -> gateway bundle -> hub bundle (embedded MQTT, PostgreSQL,
 * InfluxDB) -> a red alert in the API.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../../deploy/gateway-runtime';
import { bindDevice, createCareTeamWithMembers, createGateway, createPatient } from '../../hub/admin/provisioning';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { BloodPressureCuff, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, uniqueName, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';
import { gatewayProcessEnv, hubProcessEnv } from './support';

const GW = 'gw-build-0001';
const PATIENT = 'P-BUILD-1';
const CUFF = 'A4:C1:38:B1:B1:01';
const MEASURED = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000);

describe('the compiled hub and gateway bundle, on plain node', () => {
  // inside the repository, so the bundles resolve their npm packages from node_modules
  const dist = join('.data', uniqueName('build'));
  let pg: TestPostgres;
  let influxDb: { url: string; database: string; drop(): Promise<void> };
  let vb: VirtualBluezHandle | undefined;
  let hub: ServiceProcess | undefined;
  let gateway: ServiceProcess | undefined;
  let dataDir = '';
  let token = '';

  beforeAll(async () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', dist], { stdio: 'pipe' });
    pg = await createTestPostgres('vigil_build');
    influxDb = await createTestInflux('vigil_build');
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Build patient' });
    const { password } = await createGateway(pg.pool, { id: GW, patientId: PATIENT });
    await bindDevice(pg.pool, { gatewayId: GW, address: CUFF, patientId: PATIENT });
    token = (
      await createCareTeamWithMembers(pg.pool, {
        id: 'team-build',
        programId: 'heart_failure',
        name: 'Build team',
        patientIds: [PATIENT],
        roles: ['coordinating_nurse'],
      })
    ).coordinating_nurse.token;

    hub = await startService('hub', join(dist, 'hub.mjs'), {
      nodeArgs: [],
      readyEvent: 'hub.ready',
      env: hubProcessEnv('build', { pg, influx: influxDb }),
    });
    const cuff = new BloodPressureCuff({ address: CUFF, name: 'BP Cuff', recordIntervalMs: 20 });
    // clinical-rules.md rule 5: a crisis reading confirmed by a re-measure 90 s later
    cuff.addReading({ systolic: 186, diastolic: 124, pulse: 96, time: MEASURED });
    cuff.addReading({ systolic: 184, diastolic: 122, pulse: 94, time: new Date(MEASURED.getTime() + 90_000) });
    vb = await startVirtualBluez({ peripherals: [cuff], adapter: { advertiseIntervalMs: 300 } });
    dataDir = mkdtempSync(join(tmpdir(), 'vigil-build-gw-'));
    gateway = await startService('gateway', join(dist, 'gateway.mjs'), {
      nodeArgs: GATEWAY_NODE_FLAGS,
      readyEvent: 'gateway.ready',
      env: gatewayProcessEnv({
        vb,
        gatewayId: GW,
        dataDir,
        mqttUrl: String(hub.ready.mqttUrl),
        password,
        devices: CUFF,
      }),
    });
  }, 180_000);

  afterAll(async () => {
    await gateway?.stop();
    await hub?.stop();
    await vb?.stop();
    await pg.drop();
    await influxDb.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  });

  it('runs without a TypeScript loader', () => {
    for (const p of [hub!, gateway!]) {
      const argv = p.child.spawnargs.join(' ');
      expect(argv).not.toContain('tsx');
      expect(argv).toMatch(/\.mjs$/);
    }
  });

  it('a reading from the box reaches the hub: stored in InfluxDB and a red alert in the API', async () => {
    const u = new URL(influxDb.url);
    const influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
    const values = await until('the systolic points', async () => {
      const rows = await influx.query<{ value: number }>(
        `SELECT "value" FROM "blood_pressure_systolic" WHERE "patient" = '${PATIENT}'`,
      );
      return rows.length === 2 ? rows.map((r) => r.value) : undefined;
    });
    expect(values).toEqual([186, 184]);
    const episodes = await until('the alert episode', async () => {
      const res = await fetch(`${String(hub!.ready.httpUrl)}/api/alerts`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await res.json()) as { episodes: { patientId: string; severity: string }[] };
      return body.episodes.length ? body.episodes : undefined;
    });
    expect(episodes).toEqual([expect.objectContaining({ patientId: PATIENT, severity: 'red' })]);
  }, 60_000);

  it('the compiled hub serves the web workspace assets it was built with', async () => {
    const res = await fetch(`${String(hub!.ready.httpUrl)}/web/static/app.css`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(readFileSync('hub/web/static/app.css', 'utf8'));
  });

  it('the box reports the version the build stamped into its bundle, and the hub keeps it', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const reported = await until('the heartbeat version', async () => {
      const { rows } = await pg.pool.query<{ software_version: string | null }>(
        'SELECT software_version FROM gateways WHERE id = $1',
        [GW],
      );
      return rows[0]?.software_version ?? undefined;
    });
    expect(reported).toBe(version);
  }, 30_000);
});
