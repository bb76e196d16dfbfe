/**
 * Issue 5 "Done when": a gateway publishing under another gateway's topic, with a wrong password,
 * or after revocation is refused by the embedded broker and nothing of it is stored; a flooding
 * gateway is slowed down without starving the others (per-gateway rate limit).
 * Real parts: the hub's aedes broker, PostgreSQL, InfluxDB.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeGateway } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { waitFor } from '../support/wait';
import {
  countPoints,
  enrollGateways,
  makeReadings,
  runTag,
  SimGateway,
  type SimGatewaySpec,
} from './hub-ingest-support';
import { topicFor } from '../../contract';

let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
let hub: RunningHub;
let gws: SimGatewaySpec[];
const tag = runTag();

async function ledgerCount(gatewayId: string): Promise<number> {
  const { rows } = await pg.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM reading_ledger WHERE gateway_id = $1',
    [gatewayId],
  );
  return Number(rows[0]!.n);
}

/** Connects and reports how the broker answered: 'connected' or the refusal reason. */
async function tryConnect(clientId: string, username: string, password: string): Promise<string> {
  const c = mqtt.connect(hub.mqttUrl, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 5000 });
  const outcome = await new Promise<string>((resolve) => {
    c.once('connect', () => resolve('connected'));
    c.once('error', (e) => resolve(`refused: ${(e as Error & { code?: number }).code ?? e.message}`));
  });
  await c.endAsync(true);
  return outcome;
}

beforeAll(async () => {
  pg = await createTestPostgres('vigil_broker');
  influx = await createTestInflux('vigil_broker');
  hub = await startHub(
    loadHubConfig({
      env: {},
      overrides: {
        instanceId: 'broker-test',
        postgres: { url: pg.url },
        influx: { url: influx.url, database: influx.database },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0, gatewayRateLimit: { messagesPerSecond: 10, burst: 5 } },
        http: { port: 0 },
        logLevel: 'silent',
      },
    }),
  );
  gws = await enrollGateways(pg.pool, tag, 5);
});

afterAll(async () => {
  await hub.stop();
  await pg.drop();
  await influx.drop();
});

describe('embedded broker: authentication and ACL', () => {
  it('stores the readings of a correctly authenticated gateway and receipts them', async () => {
    const a = new SimGateway(gws[0]!, hub.mqttUrl);
    await a.connect();
    const readings = makeReadings(gws[0]!.gatewayId, 3);
    await a.sendAll(readings, 3, Date.now() + 20_000);
    await a.close();
    expect([...a.outcomes.values()]).toEqual(['stored', 'stored', 'stored']);
    expect(await ledgerCount(gws[0]!.gatewayId)).toBe(3);
    expect(await countPoints(influx.url, influx.database)).toBe(3);
  });

  it('refuses a wrong password, an unknown gateway and a client id that is not the username', async () => {
    const g = gws[1]!;
    expect(await tryConnect(g.gatewayId, g.gatewayId, 'not-the-password')).toBe('refused: 5');
    expect(await tryConnect(`gw-${tag}-nobody`, `gw-${tag}-nobody`, g.password!)).toBe('refused: 5');
    expect(await tryConnect(gws[2]!.gatewayId, g.gatewayId, g.password!)).toBe('refused: 5');
    expect(await tryConnect(g.gatewayId, g.gatewayId, g.password!)).toBe('connected');
    expect((await hub.metrics.brokerAuthFailures.get()).values[0]?.value).toBe(3);
  });

  it("refuses a publish under another gateway's topic and stores nothing of it", async () => {
    const victim = gws[2]!;
    const intruder = gws[1]!;
    const before = await countPoints(influx.url, influx.database);
    const c = mqtt.connect(hub.mqttUrl, {
      clientId: intruder.gatewayId,
      username: intruder.gatewayId,
      password: intruder.password!,
      reconnectPeriod: 0,
    });
    await new Promise((r) => c.once('connect', r));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const forged = {
      v: 1,
      gatewayId: victim.gatewayId,
      batchId: 'forged-1',
      sentAt: new Date().toISOString(),
      readings: makeReadings(victim.gatewayId, 2),
    };
    // the broker answers a refused publish by closing the connection (MQTT 3.1.1 has no negative PUBACK)
    c.publish(topicFor(victim.gatewayId, 'readings'), JSON.stringify(forged), { qos: 1 });
    await closed;
    await c.endAsync(true);
    // a marker that the forged message had its chance: the victim's own next batch, published
    // after it, is filed and receipted; only that one reading is in the stores
    const own = new SimGateway(victim, hub.mqttUrl);
    await own.connect();
    const [marker] = makeReadings(victim.gatewayId, 3).slice(2);
    await own.sendUntilReceipted(
      { v: 1, gatewayId: victim.gatewayId, batchId: 'own-1', sentAt: new Date().toISOString(), readings: [marker!] },
      Date.now() + 20_000,
    );
    await own.close();
    expect(own.outcomes.get(marker!.id)).toBe('stored');
    expect(await ledgerCount(victim.gatewayId)).toBe(1);
    expect(await countPoints(influx.url, influx.database)).toBe(before + 1);
    const dl = await pg.pool.query('SELECT 1 FROM dead_letters WHERE gateway_id = $1', [victim.gatewayId]);
    expect(dl.rowCount).toBe(0);
  });

  it('refuses a revoked gateway, and disconnects one revoked while connected', async () => {
    const g = gws[3]!;
    const sim = new SimGateway(g, hub.mqttUrl, 1000);
    await sim.connect();
    const disconnected = new Promise<void>((r) => sim.client!.once('close', () => r()));
    sim.client!.options.reconnectPeriod = 0;
    await revokeGateway(pg.pool, g.gatewayId, 'test');
    await disconnected;
    await sim.client!.endAsync(true);
    expect(await tryConnect(g.gatewayId, g.gatewayId, g.password!)).toBe('refused: 5');
    expect(await ledgerCount(g.gatewayId)).toBe(0);
  }, 20_000);
});

describe('embedded broker: per-gateway rate limit', () => {
  it('a flooding gateway does not starve another one', async () => {
    const flooder = new SimGateway(gws[4]!, hub.mqttUrl);
    const quiet = new SimGateway(gws[1]!, hub.mqttUrl);
    await Promise.all([flooder.connect(), quiet.connect()]);
    // 30 one-reading batches at once; the limit lets 5 through, then 10 per second
    const flood = makeReadings(gws[4]!.gatewayId, 30).map((r, i) => ({
      v: 1 as const,
      gatewayId: gws[4]!.gatewayId,
      batchId: `flood-${i}`,
      sentAt: new Date().toISOString(),
      readings: [r],
    }));
    const deadline = Date.now() + 30_000;
    let floodDoneAt = 0;
    const flooding = Promise.all(flood.map((b) => flooder.sendUntilReceipted(b, deadline))).then(
      () => (floodDoneAt = Date.now()),
    );
    // the flood is under way: its first batches (the burst the limit lets through) are receipted
    await waitFor('the flood under way', () => flooder.outcomes.size > 0, 10_000, 5);
    const quietReadings = makeReadings(gws[1]!.gatewayId, 1);
    await quiet.sendAll(quietReadings, 1, deadline);
    const quietDoneAt = Date.now();
    await flooding;
    await Promise.all([flooder.close(), quiet.close()]);
    expect(quietDoneAt).toBeLessThan(floodDoneAt);
    expect(floodDoneAt - quietDoneAt).toBeGreaterThan(1000);
    expect(flooder.outcomes.size).toBe(30);
    expect(await ledgerCount(gws[4]!.gatewayId)).toBe(30);
    expect((await hub.metrics.brokerThrottled.get()).values[0]?.value).toBeGreaterThanOrEqual(20);
  }, 40_000);
});
