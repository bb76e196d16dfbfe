import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { benchArgs, int, loadAverage } from './lib/args';
import { influxQuery, log, peakRssMiB, report, scratchStores, startHubProcess } from './lib/env';
import { toLine, writeLines } from './lib/line-protocol';
import { FLEET_DEFAULTS, buildHouseholds, runFleet } from '../simulators/fleet/fleet';
import { enrollHouseholds } from '../simulators/fleet/enroll';

/**
 * Hub ingest against the physical limit. One run, one machine:
 *  1. the hub (its own process, embedded broker) ingests a fleet's backlogs over MQTT QoS 1:
 *     validation, patient mapping, ledger, InfluxDB write, rules, receipt;
 *  2. the same readings written straight to InfluxDB as line protocol (HTTP /write) in batches of
 *     the same size, one request at a time (as the hub files one message at a time), then 4 at once,
 *     then in batches of 5 000 (the hub's own InfluxDB write batches reach that size).
 * Figures: hub readings/s, raw points/s, ratio hub/raw.
 *   npx tsx bench/hub-ingest.ts [--gateways 20] [--readings 1000] [--batch 100]
 */
const args = benchArgs(
  z.object({ gateways: int(1, 10_000, 20), readings: int(1, 100_000, 1000), batch: int(1, 500, 100) }),
);

const s = await scratchStores('vigil_bench_ingest');
const hub = await startHubProcess(s);
try {
  const o = {
    ...FLEET_DEFAULTS,
    url: hub.mqttUrl,
    gateways: args.gateways,
    readingsPerGateway: args.readings,
    batchSize: args.batch,
    prefix: 'bench',
    receiptTimeoutMs: 120_000,
    deadlineMs: 20 * 60_000,
  };
  const households = buildHouseholds(o);
  const passwords = await enrollHouseholds(s.pool, households);
  const load = loadAverage();
  log(`hub ingest: ${args.gateways} gateways x ${args.readings} readings, batches of ${args.batch}`);
  const fleet = await runFleet(o, households, passwords, (p) =>
    log(`  ${(p.elapsedMs / 1000).toFixed(0)} s receipted ${p.receipted}/${p.total} (${p.readingsPerSecond}/s)`),
  );
  const ledger = await s.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM reading_ledger WHERE stored_at IS NOT NULL',
  );
  const counted = await influxQuery('SELECT count("value") FROM /.*/', s.influxDb);
  const influxPoints = counted.results[0]?.series?.reduce((a, x) => a + Number(x.values[0]?.[1] ?? 0), 0) ?? 0;
  const episodes = await s.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM alert_episodes');
  const hubRss = await peakRssMiB(hub.child.pid);

  // the physical limit: same points, same batch size, straight to InfluxDB
  const rawDb = `${s.influxDb}_raw`;
  await influxQuery(`CREATE DATABASE "${rawDb}"`);
  const lines = households.flatMap((h) => h.readings.map((r) => toLine(r, h.patients[0]!.id)));
  const batches: string[][] = [];
  for (let i = 0; i < lines.length; i += args.batch) batches.push(lines.slice(i, i + args.batch));
  let t = performance.now();
  for (const b of batches) await writeLines(rawDb, b);
  const rawSequentialS = (performance.now() - t) / 1000;
  // 4 in flight, into a second database (a fresh index, not overwrites of the same points)
  const rawDb4 = `${s.influxDb}_raw4`;
  await influxQuery(`CREATE DATABASE "${rawDb4}"`);
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) await writeLines(rawDb4, batches[next++]!);
    }),
  );
  const raw4S = (performance.now() - t) / 1000;
  // and in the hub's own InfluxDB write size (its write batcher flushes up to 5 000 points)
  const rawDbBig = `${s.influxDb}_rawbig`;
  await influxQuery(`CREATE DATABASE "${rawDbBig}"`);
  t = performance.now();
  for (let i = 0; i < lines.length; i += 5000) await writeLines(rawDbBig, lines.slice(i, i + 5000));
  const rawBigS = (performance.now() - t) / 1000;
  for (const db of [rawDb, rawDb4, rawDbBig]) await influxQuery(`DROP DATABASE "${db}"`);

  const rawPerS = Math.round(lines.length / rawSequentialS);
  report('hub-ingest', {
    hubReadingsPerSecond: fleet.readingsPerSecond,
    rawInfluxPointsPerSecond: rawPerS,
    ratio: Math.round((fleet.readingsPerSecond / rawPerS) * 1000) / 1000,
    rawInfluxPointsPerSecond4InFlight: Math.round(lines.length / raw4S),
    rawInfluxPointsPerSecondBatch5000: Math.round(lines.length / rawBigS),
    batchSize: args.batch,
    gateways: args.gateways,
    readings: fleet.total,
    receipted: fleet.receipted,
    lost: fleet.lost,
    outcomes: fleet.outcomes,
    resent: fleet.resent,
    storedInLedger: ledger.rows[0]!.n,
    storedInInflux: influxPoints,
    episodesOpened: episodes.rows[0]!.n,
    drainS: fleet.drainMs / 1000,
    receiptLatencyMs: fleet.receiptLatencyMs,
    hubPeakRssMiB: hubRss,
    qos: 1,
    rulesEvaluated: true,
    loadAverage1m: load,
  });
} finally {
  await hub.stop();
  await s.cleanup();
}
