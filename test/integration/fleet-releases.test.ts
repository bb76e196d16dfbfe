/**
 * Issue 17 item 6, hub side of the over-the-air updates: a signed release is published only with
 * the right key, a staged rollout reaches exactly its share of the fleet, and the versions the
 * boxes report in their heartbeats (real hub, real MQTT) make the fleet view; the per-box update
 * states and the automatic halt (the four-box run on real gateway processes: test/e2e/ota.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIRE_VERSION, topicFor } from '../../contract';
import { generateReleaseKeys, writeRelease } from '../../deploy/release';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { recordUpdateReport } from '../../hub/fleet/ota';
import { currentRollout, fleetVersions, publishRelease, startRollout } from '../../hub/fleet/releases';
import { startHub, type RunningHub } from '../../hub/main';
import { hubCli } from '../support/cli';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

const BOXES = ['gw-ota-0001', 'gw-ota-0002', 'gw-ota-0003', 'gw-ota-0004'];

describe('gateway releases and staged rollout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ota-'));
  const keys = generateReleaseKeys();
  const intruder = generateReleaseKeys();
  const publicKey = join(dir, 'release-public.pem');
  let pg: TestPostgres;
  let influx: { url: string; database: string; drop(): Promise<void> };
  let hub: RunningHub | undefined;
  const passwords = new Map<string, string>();

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_ota');
    influx = await createTestInflux('vigil_ota');
    writeFileSync(publicKey, keys.publicKeyPem);
    for (const [i, id] of BOXES.entries()) {
      await createPatient(pg.pool, { id: `P-OTA-${i}`, programId: 'heart_failure', displayName: `OTA ${i}` });
      passwords.set(id, (await createGateway(pg.pool, { id, patientId: `P-OTA-${i}` })).password);
    }
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influx.url, database: influx.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          fleet: { otaReconcileMs: 300 },
          logLevel: 'silent',
        },
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    await pg.drop();
    await influx.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const release = (version: string, privateKeyPem: string) => {
    const bundle = join(dir, `bundle-${version}.mjs`);
    writeFileSync(bundle, `console.log(${JSON.stringify(version)});\n`);
    return writeRelease({ bundle, outdir: join(dir, `release-${version}`), version, privateKeyPem, root: '.' });
  };

  it('publishes a release signed with the release key and refuses one signed with another key', async () => {
    const env = { VIGIL_PG_URL: pg.url };
    const good = await hubCli(
      ['release-publish', release('0.2.0', keys.privateKeyPem).manifest, '--public-key', publicKey],
      env,
    );
    expect(good.status, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ event: 'release.published', version: '0.2.0' });

    const forged = await hubCli(
      ['release-publish', release('0.3.0', intruder.privateKeyPem).manifest, '--public-key', publicKey],
      env,
    );
    expect(forged.status).toBe(2);
    expect(forged.stderr).toMatch(/^RELEASE_SIGNATURE_INVALID: /);
    const { rows } = await pg.pool.query<{ version: string }>('SELECT version FROM gateway_releases ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(['0.2.0']);
    // a rollout of a release that was never published names nothing
    const ghost = await hubCli(['rollout', '0.3.0', '50'], env);
    expect(ghost.status).toBe(2);
    expect(ghost.stderr).toMatch(/^NOT_FOUND: /);
  }, 60_000);

  it('rolls out to 2 of 4 boxes at 50 %, and raising it keeps them and adds more', async () => {
    const r = await hubCli(['rollout', '0.2.0', '50'], { VIGIL_PG_URL: pg.url });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: '0.2.0', percent: 50, offered: 2 });
    const half = await currentRollout(pg.pool);
    expect(half?.offered).toHaveLength(2);
    expect(half?.held).toHaveLength(2);
    const more = await hubCli(['rollout', '0.2.0', '75'], { VIGIL_PG_URL: pg.url });
    expect(more.status, more.stderr).toBe(0);
    const threeQuarters = await currentRollout(pg.pool);
    expect(threeQuarters?.offered).toHaveLength(3);
    expect(threeQuarters?.offered).toEqual(expect.arrayContaining(half!.offered));
  }, 60_000);

  it('files the version each box reports in its heartbeat for the fleet view', async () => {
    const report = async (gatewayId: string, version: string) => {
      const c = await mqtt.connectAsync(hub!.mqttUrl, {
        clientId: gatewayId,
        username: gatewayId,
        password: passwords.get(gatewayId),
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const heartbeat = {
        v: WIRE_VERSION,
        gatewayId,
        at: new Date().toISOString(),
        uptimeS: 5,
        version,
        queue: { depth: 0, oldestAt: null, bytes: 0, alarm: null },
        adapter: 'hci0',
        devices: [],
      };
      await c.publishAsync(topicFor(gatewayId, 'heartbeat'), JSON.stringify(heartbeat), { qos: 1 });
      await c.endAsync();
    };
    const plan = await currentRollout(pg.pool);
    for (const id of BOXES) await report(id, plan!.offered.slice(0, 2).includes(id) ? '0.2.0' : '0.1.0');
    const versions = await until('the four reports', async () => {
      const v = await fleetVersions(pg.pool);
      return v.reduce((n, x) => n + (x.version === 'not reported' ? 0 : x.gateways), 0) === 4 ? v : undefined;
    });
    expect(versions.map((v) => [v.version, v.gateways])).toEqual([
      ['0.1.0', 2],
      ['0.2.0', 2],
    ]);
  }, 60_000);

  it('records what the boxes report, only for releases offered to them, and halts past the failure threshold', async () => {
    // the box the 0.2.0 rollout (75 %) left out: it was never offered 0.2.0
    const held = (await currentRollout(pg.pool))!.held[0]!;
    const r = release('0.4.0', keys.privateKeyPem);
    await publishRelease(pg.pool, {
      manifest: readFileSync(r.manifest),
      signature: readFileSync(r.signature, 'utf8').trim(),
      artifact: readFileSync(r.artifact),
      publicKeyPem: keys.publicKeyPem,
    });
    await startRollout(pg.pool, '0.4.0', 100, 'admin', 1);
    // the running hub offers it to every box in its retained config
    await until('the offers', async () => {
      const { rows } = await pg.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM gateway_remote_config WHERE config->'update'->>'version' = '0.4.0'`,
      );
      return rows[0]!.n === 4 ? true : undefined;
    });
    const [a, b, c] = BOXES as [string, string, string];
    // a report on a release the box was not offered changes nothing
    expect(await recordUpdateReport(pg.pool, held, { version: '0.2.0', state: 'healthy' })).toEqual({
      changed: false,
      halted: false,
    });
    expect(await recordUpdateReport(pg.pool, a, { version: '0.4.0', state: 'downloading' })).toEqual({
      changed: true,
      halted: false,
    });
    // the same report twice is one change
    expect((await recordUpdateReport(pg.pool, a, { version: '0.4.0', state: 'downloading' })).changed).toBe(false);
    // withdrawn is not a failure; one failure is within max_failures = 1; the second halts
    expect(
      await recordUpdateReport(pg.pool, b, { version: '0.4.0', state: 'refused', reason: 'UPDATE_WITHDRAWN' }),
    ).toEqual({ changed: true, halted: false });
    expect(
      await recordUpdateReport(pg.pool, a, { version: '0.4.0', state: 'rolled_back', reason: 'HEALTH_DEADLINE' }),
    ).toEqual({ changed: true, halted: false });
    expect(
      await recordUpdateReport(pg.pool, c, {
        version: '0.4.0',
        state: 'refused',
        reason: 'RELEASE_SIGNATURE_INVALID',
      }),
    ).toEqual({ changed: true, halted: true });
    const plan = await currentRollout(pg.pool);
    expect(plan?.haltedAt).not.toBeNull();
    expect(plan?.haltReason).toMatch(/^2 boxes failed/);
    // halted: every offer is withdrawn
    await until('the offers withdrawn', async () => {
      const { rows } = await pg.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM gateway_remote_config WHERE config ? 'update'`,
      );
      return rows[0]!.n === 0 ? true : undefined;
    });
    expect(
      (await pg.pool.query('SELECT 1 FROM gateway_updates WHERE gateway_id = $1 AND version = $2', [held, '0.2.0']))
        .rowCount,
    ).toBe(0);
    const events = await pg.pool.query<{ state: string }>(
      `SELECT state FROM gateway_update_events WHERE gateway_id = $1 AND version = '0.4.0' ORDER BY id`,
      [a],
    );
    expect(events.rows.map((e) => e.state)).toEqual(['offered', 'downloading', 'rolled_back']);
  }, 60_000);
});
