/**
 * Issue 17, over-the-air updates end to end on real processes: the hub (embedded MQTT broker,
 * PostgreSQL, InfluxDB), and four boxes, each the real update supervisor (gateway/agent.ts) running
 * real gateway bundles built and signed as for a box (deploy/build-gateway.mjs, deploy/release.ts).
 *  - a signed release rolled out to 50 % reaches exactly 2 of the 4 boxes, which report it healthy;
 *  - a release that crashes at start is rolled back by the box on its own; the hub shows rolled_back
 *    and halts the rollout;
 *  - a release signed with another key is refused and reported;
 *  - a box in the middle of an RACP stored-record transfer switches only once the transfer ended.
 */
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleGateway } from '../../deploy/build-gateway.mjs';
import { generateReleaseKeys, writeRelease } from '../../deploy/release';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { publishRelease, startRollout, currentRollout } from '../../hub/fleet/releases';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { GlucoseMeter, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, uniqueName, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

const PATIENT = 'P-OTA';
const BOXES = ['gw-ota-0001', 'gw-ota-0002', 'gw-ota-0003', 'gw-ota-0004'];
const METER = 'A4:C1:38:07:A0:01';
/** the box with the glucose meter */
const RACP_BOX = 'gw-ota-0004';
const RECORDS = 300;

describe('over-the-air updates: four boxes, a real hub, signed releases', () => {
  // inside the repository: the bundles resolve their npm packages from its node_modules
  const work = resolve('.data', uniqueName('ota'));
  const keys = generateReleaseKeys();
  const otherKeys = generateReleaseKeys();
  const meter = new GlucoseMeter({ address: METER, name: 'Glucose', recordIntervalMs: 40 });
  let pg: TestPostgres;
  let influxDb: { url: string; database: string; drop(): Promise<void> };
  let hub: ServiceProcess | undefined;
  const agents = new Map<string, ServiceProcess>();
  const radios: VirtualBluezHandle[] = [];

  /** the boxes' last lines, for a failure's message */
  const outputs = () => [...agents].map(([id, a]) => `--- ${id}\n${a.lines.slice(-15).join('\n')}`).join('\n');
  const release = (version: string) => join(work, 'release', `vigil-gateway-${version}.manifest.json`);
  const publish = async (version: string, publicKeyPem = keys.publicKeyPem) => {
    const base = release(version).replace(/\.manifest\.json$/, '');
    await publishRelease(pg.pool, {
      manifest: readFileSync(release(version)),
      signature: readFileSync(`${base}.manifest.sig`, 'utf8').trim(),
      artifact: readFileSync(`${base}.mjs`),
      publicKeyPem,
    });
  };
  const boxes = async () =>
    (
      await pg.pool.query<{ id: string; software_version: string | null }>(
        'SELECT id, software_version FROM gateways ORDER BY id',
      )
    ).rows;
  const versionOf = async (id: string) => (await boxes()).find((b) => b.id === id)?.software_version;
  const states = async (version: string) =>
    new Map(
      (
        await pg.pool.query<{ gateway_id: string; state: string; reason: string | null }>(
          'SELECT gateway_id, state, reason FROM gateway_updates WHERE version = $1',
          [version],
        )
      ).rows.map((r) => [r.gateway_id, r]),
    );
  const events = async (gatewayId: string, version: string) =>
    (
      await pg.pool.query<{ state: string; reason: string | null; at: Date }>(
        'SELECT state, reason, at FROM gateway_update_events WHERE gateway_id = $1 AND version = $2 ORDER BY id',
        [gatewayId, version],
      )
    ).rows;
  const openOffers = async () =>
    (
      await pg.pool.query<{ gateway_id: string }>(
        `SELECT gateway_id FROM gateway_remote_config WHERE config ? 'update' ORDER BY gateway_id`,
      )
    ).rows.map((r) => r.gateway_id);

  beforeAll(async () => {
    mkdirSync(join(work, 'build'), { recursive: true });
    // real bundles, each stamped with its version (the heartbeat reports it)
    await Promise.all(
      ['0.8.0', '0.9.0', '0.9.2'].map((v) => bundleGateway(join(work, 'build', `${v}.mjs`), 'gateway/cli.ts', v)),
    );
    const sign = (bundle: string, version: string, privateKeyPem = keys.privateKeyPem) =>
      writeRelease({ bundle, outdir: join(work, 'release'), version, privateKeyPem, root: process.cwd() });
    sign(join(work, 'build', '0.9.0.mjs'), '0.9.0');
    sign(join(work, 'build', '0.9.2.mjs'), '0.9.2');
    // a broken release: it dies at start, before any self-check
    writeFileSync(join(work, 'build', '0.9.1.mjs'), "throw new Error('0.9.1 cannot start');\n");
    sign(join(work, 'build', '0.9.1.mjs'), '0.9.1');
    // a good bundle signed with a key the boxes do not trust
    sign(join(work, 'build', '0.9.0.mjs'), '0.9.3', otherKeys.privateKeyPem);

    [pg, influxDb] = await Promise.all([createTestPostgres('vigil_ota'), createTestInflux('vigil_ota')]);
    hub = await startService('hub', 'hub/cli.ts', {
      readyEvent: 'hub.ready',
      env: {
        VIGIL_HUB_INSTANCE_ID: 'ota',
        VIGIL_PG_URL: pg.url,
        VIGIL_INFLUX_URL: influxDb.url,
        VIGIL_INFLUX_DATABASE: influxDb.database,
        VIGIL_MQTT_HOST: '127.0.0.1',
        VIGIL_MQTT_PORT: '0',
        VIGIL_HTTP_HOST: '127.0.0.1',
        VIGIL_HTTP_PORT: '0',
        VIGIL_OTA_RECONCILE_MS: '500',
        VIGIL_LOG_LEVEL: 'warn',
      },
    });
    await publish('0.9.0');
    await publish('0.9.1');
    await publish('0.9.2');
    // the hub accepts it (its signature verifies with the key given at publication); the boxes will not
    await publish('0.9.3', otherKeys.publicKeyPem);

    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'OTA patient' });
    for (const id of BOXES) {
      const { password } = await createGateway(pg.pool, { id, patientId: PATIENT });
      const root = join(work, id);
      mkdirSync(join(root, 'versions', '0.8.0'), { recursive: true });
      symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
      writeFileSync(join(root, 'versions', '0.8.0', 'gateway.mjs'), readFileSync(join(work, 'build', '0.8.0.mjs')));
      symlinkSync(join('versions', '0.8.0'), join(root, 'current'));
      writeFileSync(join(root, 'release-public.pem'), keys.publicKeyPem);
      writeFileSync(
        join(root, 'gateway.yaml'),
        JSON.stringify({
          gatewayId: id,
          dataDir: join(root, 'data'),
          timeZone: 'UTC',
          logLevel: 'warn',
          mqtt: { url: String(hub.ready.mqttUrl), password, heartbeatIntervalMs: 2_000 },
          update: { hubUrl: String(hub.ready.httpUrl), publicKeyFile: join(root, 'release-public.pem') },
          ble: { idleDisconnectMs: 400, backoffInitialMs: 100, backoffMaxMs: 500, cooldownMs: 300 },
          devices: { allow: id === RACP_BOX ? [METER] : [] },
        }),
      );
      const vb = await startVirtualBluez({
        peripherals: id === RACP_BOX ? [meter] : [],
        adapter: { advertiseIntervalMs: 150 },
      });
      radios.push(vb);
      agents.set(
        id,
        await startService(id, 'gateway/agent.ts', {
          args: ['--root', root, '--config', join(root, 'gateway.yaml'), '--health-deadline-ms', '30000'],
          readyEvent: 'agent.ready',
          env: vb.env,
        }),
      );
    }
    await until(
      'the four boxes on 0.8.0',
      async () => ((await boxes()).every((b) => b.software_version === '0.8.0') ? true : undefined),
      150_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${outputs()}`);
    });
  }, 240_000);

  afterAll(async () => {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await hub?.stop();
    await Promise.all(radios.map((r) => r.stop()));
    await pg.drop();
    await influxDb.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('a signed release rolled out to 50 % reaches 2 of the 4 boxes, which report it healthy', async () => {
    await startRollout(pg.pool, '0.9.0', 50);
    const plan = await currentRollout(pg.pool);
    expect(plan?.offered).toHaveLength(2);
    const chosen = plan!.offered;
    await until(
      'the chosen boxes healthy on 0.9.0',
      async () => {
        const s = await states('0.9.0');
        const b = await boxes();
        return chosen.every(
          (id) => s.get(id)?.state === 'healthy' && b.find((x) => x.id === id)?.software_version === '0.9.0',
        )
          ? true
          : undefined;
      },
      90_000,
    );
    // the others were never offered it and still run 0.8.0
    const s = await states('0.9.0');
    for (const b of await boxes()) {
      if (chosen.includes(b.id)) continue;
      expect(s.has(b.id)).toBe(false);
      expect(b.software_version).toBe('0.8.0');
    }
    // the path each chosen box went through, as the hub recorded it
    for (const id of chosen)
      expect((await events(id, '0.9.0')).map((e) => e.state)).toEqual(
        expect.arrayContaining(['offered', 'downloading', 'installed', 'healthy']),
      );
    // a box runs the new release from its versions/ directory, the old one kept for a rollback
    for (const id of chosen) {
      expect(existsSync(join(work, id, 'versions', '0.9.0', 'gateway.mjs'))).toBe(true);
      expect(existsSync(join(work, id, 'versions', '0.8.0', 'gateway.mjs'))).toBe(true);
    }
    await until('offers withdrawn once done', async () => ((await openOffers()).length === 0 ? true : undefined));
  }, 120_000);

  it('only a box the release is offered to can download it, with its own credential', async () => {
    const url = `${String(hub!.ready.httpUrl)}/gateway/releases/0.9.0/manifest.json`;
    expect((await fetch(url)).status).toBe(401);
    const wrong = Buffer.from('gw-ota-0001:not-the-password').toString('base64');
    expect((await fetch(url, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
  });

  it('a release that crashes at start is rolled back by the box; the hub shows rolled_back and halts the rollout', async () => {
    const before = new Map((await boxes()).map((b) => [b.id, b.software_version]));
    await startRollout(pg.pool, '0.9.1', 50, 'admin', 0);
    const chosen = (await currentRollout(pg.pool))!.offered;
    const rolledBack = await until(
      'a rollback reported',
      async () => {
        const s = [...(await states('0.9.1')).values()].filter((r) => r.state === 'rolled_back');
        return s.length ? s : undefined;
      },
      90_000,
    );
    expect(rolledBack[0]!.reason).toMatch(/^CRASHED_AT_START/);
    const halted = await until('the rollout halted', async () => {
      const plan = await currentRollout(pg.pool);
      return plan?.haltedAt ? plan : undefined;
    });
    expect(halted.haltReason).toMatch(/boxes failed/);
    // every box ends up on the release it ran before, healthy (heartbeats), none on 0.9.1
    await until(
      'every box back on its release',
      async () => {
        const b = await boxes();
        const s = await states('0.9.1');
        const settled = chosen.every((id) => ['rolled_back', 'refused', 'offered'].includes(s.get(id)?.state ?? ''));
        return settled && b.every((x) => x.software_version === before.get(x.id)) ? true : undefined;
      },
      90_000,
    );
    await until('open offers withdrawn after the halt', async () =>
      (await openOffers()).length === 0 ? true : undefined,
    );
    // the halted rollout offers nothing more: the two other boxes never heard of 0.9.1
    for (const id of BOXES.filter((b) => !chosen.includes(b))) expect((await states('0.9.1')).has(id)).toBe(false);
  }, 200_000);

  it('a release signed with another key is refused and reported; nothing is staged', async () => {
    await startRollout(pg.pool, '0.9.3', 25, 'admin', 10);
    const [target] = (await currentRollout(pg.pool))!.offered;
    const before = await versionOf(target!);
    const refused = await until(
      'the refusal',
      async () => {
        const r = (await states('0.9.3')).get(target!);
        return r?.state === 'refused' ? r : undefined;
      },
      60_000,
    );
    expect(refused.reason).toBe('RELEASE_SIGNATURE_INVALID');
    expect(existsSync(join(work, target!, 'versions', '0.9.3'))).toBe(false);
    expect(await versionOf(target!)).toBe(before);
  }, 90_000);

  it('a box in the middle of an RACP transfer switches only once the transfer ended', async () => {
    const disconnects: { at: number; sent: number }[] = [];
    meter.on('disconnected', () => disconnects.push({ at: Date.now(), sent: meter.sentRecords }));
    const sentBefore = meter.sentRecords;
    const t0 = Date.UTC(2026, 10, 1, 6, 0, 0);
    for (let i = 1; i <= RECORDS; i++) meter.addReading({ mmolPerL: 5 + i / 1000, time: new Date(t0 + i * 60_000) });
    // the transfer has begun (the meter sends one record each 40 ms: 12 s for all)
    await until('the transfer under way', () => (meter.sentRecords > sentBefore ? true : undefined), 60_000, 50);
    await startRollout(pg.pool, '0.9.2', 100, 'admin', 0);
    const waiting = await until(
      'the box waiting for the transfer',
      async () => (await events(RACP_BOX, '0.9.2')).find((e) => e.state === 'waiting'),
      30_000,
    );
    expect(waiting.reason).toBe('DEVICE_SESSION');
    await until(
      'every box healthy on 0.9.2',
      async () => {
        const s = await states('0.9.2');
        const b = await boxes();
        return BOXES.every((id) => s.get(id)?.state === 'healthy') && b.every((x) => x.software_version === '0.9.2')
          ? true
          : undefined;
      },
      120_000,
    );
    // the transfer ended (all records sent) before the box left for the new release
    const switched = (await events(RACP_BOX, '0.9.2')).find((e) => e.state === 'switching');
    const transferEnd = disconnects.find((d) => d.sent - sentBefore >= RECORDS);
    expect(transferEnd).toBeDefined();
    expect(disconnects.filter((d) => d.at < transferEnd!.at).every((d) => d.sent === sentBefore)).toBe(true);
    expect(switched!.at.getTime()).toBeGreaterThanOrEqual(transferEnd!.at - 1_000);
    // and every record reached the hub once
    const stored = await until(
      'all records stored',
      async () => {
        const { rows } = await pg.pool.query<{ n: number; distinct: number }>(
          `SELECT count(*)::int AS n, count(DISTINCT reading_id)::int AS distinct FROM reading_ledger
           WHERE gateway_id = $1 AND metric = 'glucose' AND stored_at IS NOT NULL AND measured_at >= $2`,
          [RACP_BOX, new Date(t0)],
        );
        return rows[0]!.n >= RECORDS ? rows[0] : undefined;
      },
      60_000,
    );
    expect(stored).toEqual({ n: RECORDS, distinct: RECORDS });
  }, 240_000);
});
