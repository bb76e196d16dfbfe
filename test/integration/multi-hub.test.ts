/**
 * Issue 5 "Done when": two hub instances on the machine's Mosquitto with MQTT 5 shared
 * subscriptions split the readings of many gateways; every reading is stored exactly once in
 * InfluxDB and in the ledger, and every gateway gets receipts for all its readings.
 * CI size: 5 000 readings from 500 gateways; the full 50 000 run is bench/multi-hub.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import {
  countPoints,
  enrollGateways,
  makeReadings,
  pool,
  runTag,
  SimGateway,
  type SimGatewaySpec,
} from './hub-ingest-support';

const MOSQUITTO = process.env.VIGIL_TEST_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';
const GATEWAYS = 500;
const PER_GATEWAY = 10;
const BATCH = 5;

let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
const hubs: RunningHub[] = [];
let gws: SimGatewaySpec[];
const tag = runTag();

function hubConfig(instanceId: string) {
  return loadHubConfig({
    env: {},
    overrides: {
      instanceId,
      postgres: { url: pg.url },
      influx: { url: influx.url, database: influx.database },
      mqtt: { mode: 'external', url: MOSQUITTO, sharedGroup: `vigil-${tag}`.toLowerCase(), ingestConnections: 4 },
      http: { port: 0 },
      logLevel: 'silent',
    },
  });
}

beforeAll(async () => {
  pg = await createTestPostgres('vigil_multihub');
  influx = await createTestInflux('vigil_multihub');
  // both start together: migrations and InfluxDB schema creation are safe from two instances
  hubs.push(...(await Promise.all([startHub(hubConfig(`a-${tag}`)), startHub(hubConfig(`b-${tag}`))])));
  gws = await enrollGateways(pg.pool, tag, GATEWAYS);
});

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.stop()));
  await pg.drop();
  await influx.drop();
});

describe('two hubs on Mosquitto with a shared subscription', () => {
  it(`stores ${GATEWAYS * PER_GATEWAY} readings from ${GATEWAYS} gateways exactly once and receipts all of them`, async () => {
    const sims = gws.map((g) => new SimGateway(g, MOSQUITTO, 15_000));
    await pool(sims, 50, (s) => s.connect());
    const t0 = performance.now();
    await Promise.all(
      sims.map((s) => s.sendAll(makeReadings(s.spec.gatewayId, PER_GATEWAY), BATCH, Date.now() + 240_000)),
    );
    const seconds = (performance.now() - t0) / 1000;
    await pool(sims, 50, (s) => s.close());

    const total = GATEWAYS * PER_GATEWAY;
    // every gateway got a receipt for every reading it sent
    for (const s of sims) expect(s.outcomes.size, s.spec.gatewayId).toBe(PER_GATEWAY);
    const outcomes = sims.flatMap((s) => [...s.outcomes.values()]);
    expect(outcomes.filter((o) => o !== 'stored' && o !== 'duplicate')).toEqual([]);
    // exactly once: ledger rows and InfluxDB points equal the distinct readings
    const ledger = await pg.pool.query<{ n: string; stored: string }>(
      'SELECT count(*) AS n, count(stored_at) AS stored FROM reading_ledger WHERE gateway_id LIKE $1',
      [`gw-${tag}-%`],
    );
    expect(Number(ledger.rows[0]!.n)).toBe(total);
    expect(Number(ledger.rows[0]!.stored)).toBe(total);
    expect(await countPoints(influx.url, influx.database)).toBe(total);
    // both instances took a share of the batches
    const perHub = await Promise.all(hubs.map(async (h) => (await h.metrics.batches.get()).values[0]?.value ?? 0));
    for (const n of perHub) expect(n).toBeGreaterThan(0);
    const resends = sims.reduce((a, s) => a + s.resends, 0);
    console.log(
      JSON.stringify({
        test: 'multi-hub',
        readings: total,
        gateways: GATEWAYS,
        seconds: +seconds.toFixed(2),
        readingsPerSecond: Math.round(total / seconds),
        batchesPerHub: perHub,
        resends,
      }),
    );
  }, 300_000);
});
