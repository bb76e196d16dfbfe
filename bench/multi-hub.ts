/**
 * Issue 5 full-size run: two hub instances (in this process) on the machine's Mosquitto with a
 * shared subscription; 50 000 readings from 500 simulated gateways (wire contract v1 batches,
 * re-sent until receipted). Prints one JSON line: throughput, per-hub split, exactly-once check.
 *   npx tsx bench/multi-hub.ts [--gateways 500] [--per-gateway 100] [--batch 20] [--connections 4]
 */
import { parseArgs } from 'node:util';
import { loadHubConfig, startHub } from '../hub';
import { createTestInflux, createTestPostgres } from '../test/support/stores';
import {
  countPoints,
  enrollGateways,
  makeReadings,
  pool,
  runTag,
  SimGateway,
} from '../test/integration/hub-ingest-support';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '500' },
    'per-gateway': { type: 'string', default: '100' },
    batch: { type: 'string', default: '20' },
    connections: { type: 'string', default: '4' },
    mqtt: { type: 'string', default: process.env.VIGIL_BENCH_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883' },
  },
});
const GATEWAYS = Number(values.gateways);
const PER = Number(values['per-gateway']);
const BATCH = Number(values.batch);
const tag = runTag();

const pg = await createTestPostgres('vigil_bench_multihub');
const influx = await createTestInflux('vigil_bench_multihub');
try {
  const config = (id: string) =>
    loadHubConfig({
      env: {},
      overrides: {
        instanceId: id,
        postgres: { url: pg.url },
        influx: { url: influx.url, database: influx.database },
        mqtt: {
          mode: 'external',
          url: values.mqtt,
          sharedGroup: `bench-${tag}`,
          ingestConnections: Number(values.connections),
        },
        http: { port: 0 },
        logLevel: 'silent',
      },
    });
  const hubs = await Promise.all([startHub(config(`a-${tag}`)), startHub(config(`b-${tag}`))]);
  const gws = await enrollGateways(pg.pool, tag, GATEWAYS);
  const sims = gws.map((g) => new SimGateway(g, values.mqtt, 30_000));
  await pool(sims, 50, (s) => s.connect());
  const t0 = performance.now();
  await Promise.all(sims.map((s) => s.sendAll(makeReadings(s.spec.gatewayId, PER), BATCH, Date.now() + 1_800_000)));
  const seconds = (performance.now() - t0) / 1000;
  await pool(sims, 50, (s) => s.close());
  const total = GATEWAYS * PER;
  const ledger = await pg.pool.query<{ n: string; stored: string }>(
    'SELECT count(*) AS n, count(stored_at) AS stored FROM reading_ledger',
  );
  const points = await countPoints(influx.url, influx.database);
  const batchesPerHub = await Promise.all(hubs.map(async (h) => (await h.metrics.batches.get()).values[0]?.value ?? 0));
  const receipted = sims.reduce((a, s) => a + s.outcomes.size, 0);
  await Promise.all(hubs.map((h) => h.stop()));
  console.log(
    JSON.stringify({
      bench: 'multi-hub',
      hubs: 2,
      gateways: GATEWAYS,
      readings: total,
      batchReadings: BATCH,
      connectionsPerHub: Number(values.connections),
      seconds: +seconds.toFixed(2),
      readingsPerSecond: Math.round(total / seconds),
      batchesPerHub,
      influxPoints: points,
      ledgerRows: Number(ledger.rows[0]!.n),
      ledgerStored: Number(ledger.rows[0]!.stored),
      receipted,
      resends: sims.reduce((a, s) => a + s.resends, 0),
      exactlyOnce: points === total && Number(ledger.rows[0]!.n) === total && receipted === total,
    }),
  );
} finally {
  await pg.drop();
  await influx.drop();
}
