import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../deploy/gateway-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPatient } from '../../hub/admin/provisioning';
import { createEnrollmentCode } from '../../hub/api/enrollment';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

/**
 * Plug-in onboarding: a gateway process whose config file holds only the hub addresses and the
 * code printed on the box exchanges the code once, connects with the issued credential, and
 * starts again later from the saved credential alone. The code cannot be used twice.
 * The gateway runs as the box runs it: the bundle (deploy/build-gateway.sh) with the V8 flags of
 * deploy/vigil-gateway.service, which leave out WebAssembly (so no fetch for the exchange).
 */
const GW = 'gw-e2e-enroll-01';
const PATIENT = 'P-E2E-ENROLL';

describe('plug-in onboarding: enrollment code -> credential -> connected box', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub;
  let dir: string;
  let dist: string;
  let code: string;
  let gateway: ServiceProcess | undefined;

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_enroll'), createTestInflux('vigil_enroll')]);
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influx.url, database: influx.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
        },
      }),
    );
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Enrollment patient' });
    code = (await createEnrollmentCode(pg.pool, { gatewayId: GW, patientId: PATIENT })).code;
    dir = mkdtempSync(join(tmpdir(), 'vigil-enroll-'));
    // the bundle lives inside the repository so its npm imports resolve to node_modules
    mkdirSync(join(process.cwd(), '.data'), { recursive: true });
    dist = mkdtempSync(join(process.cwd(), '.data', 'tmp-enroll-'));
    execFileSync('sh', ['deploy/build-gateway.sh', dist], { stdio: 'pipe' });
    // what the box ships with: no gateway id, no password
    writeFileSync(
      join(dir, 'gateway.yaml'),
      [
        `dataDir: ${join(dir, 'data')}`,
        'timeZone: UTC',
        'logLevel: warn',
        'mqtt:',
        `  url: ${hub.mqttUrl}`,
        'enrollment:',
        `  hubUrl: ${hub.httpUrl}`,
        `  code: ${code}`,
        '',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    await hub.stop();
    await Promise.all([pg.drop(), influx.drop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  const start = () =>
    startService('gateway', join(dist, 'gateway.mjs'), {
      nodeArgs: GATEWAY_NODE_FLAGS,
      args: ['--config', join(dir, 'gateway.yaml')],
      readyEvent: 'gateway.ready',
      env: { DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent' },
    });

  it('exchanges the code once, saves the credential (0600) and comes online at the hub', async () => {
    gateway = await start();
    expect(gateway.lines.some((l) => l.includes('"event":"gateway.enrolled"'))).toBe(true);
    expect(gateway.ready.gatewayId).toBe(GW);
    const creds = join(dir, 'data', 'credentials.json');
    expect(statSync(creds).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(creds, 'utf8')) as { gatewayId: string }).gatewayId).toBe(GW);
    await until('the gateway online at the hub', async () => {
      const { rows } = await pg.pool.query<{ online: boolean; patient_id: string }>(
        'SELECT online, patient_id FROM gateways WHERE id = $1',
        [GW],
      );
      return rows[0]?.online ? rows[0] : undefined;
    });
    const { rows } = await pg.pool.query<{ patient_id: string | null }>(
      'SELECT patient_id FROM gateways WHERE id = $1',
      [GW],
    );
    expect(rows[0]?.patient_id).toBe(PATIENT);
  });

  it('refuses the same code a second time (single use), with a stable code', async () => {
    const res = await fetch(`${hub.httpUrl}/enrollment/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/^ENROLLMENT_CODE_INVALID/);
    const bad = await fetch(`${hub.httpUrl}/enrollment/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'nonsense' }),
    });
    expect(bad.status).toBe(400);
  });

  it('starts again from the saved credential alone (no exchange)', async () => {
    await gateway!.stop();
    gateway = await start();
    expect(gateway.lines.some((l) => l.includes('gateway.enrolled'))).toBe(false);
    await until('online again', async () => {
      const { rows } = await pg.pool.query<{ online: boolean }>('SELECT online FROM gateways WHERE id = $1', [GW]);
      return rows[0]?.online ? true : undefined;
    });
  });
});
