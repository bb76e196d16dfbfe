import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { benchArgs, int, loadAverage } from './lib/args';
import {
  cpuByCommand,
  cpuSeconds,
  influxQuery,
  log,
  peakRssMiB,
  report,
  scratchStores,
  startHubProcess,
} from './lib/env';
import { toLine, writeLines } from './lib/line-protocol';
import { storesLedger, sweepBothStores } from './lib/stores-ceiling';
import { FLEET_DEFAULTS, buildHouseholds, runFleet } from '../simulators/fleet/fleet';
import { enrollHouseholds } from '../simulators/fleet/enroll';
import { SHARD_DURATIONS } from '../hub';

/**
 * Hub ingest against the physical limit. One run, one machine:
 *  1. the hub (its own process, embedded broker) ingests a fleet's backlogs over MQTT QoS 1:
 *     validation, patient mapping, ledger, InfluxDB write, rules, receipt;
 *  2. the same readings written straight to InfluxDB as line protocol (HTTP /write), every batch
 *     size x concurrency of RAW_BATCH_SIZES x RAW_CONCURRENCY, each into a fresh database: the best
 *     is the physical limit the hub is measured against.
 *  3. the same readings written to both stores at once and nothing else, the ledger with the hub's
 *     own statement (lib/stores-ceiling.ts): the most any hub keeping a ledger row per reading
 *     could file on this machine, as a share of the raw best (storesCeilingRatio).
 * Figures: hubReadingsPerSecond, rawInfluxBestPointsPerSecond, ratioToRawBest (and the sweeps).
 *   npx tsx bench/hub-ingest.ts [--gateways 20] [--readings 1000] [--batch 100]
 */
/** raw write configurations tried (batch size in points x requests in flight) */
const RAW_BATCH_SIZES = [5000, 10_000, 20_000];
const RAW_CONCURRENCY = [1, 2, 4];

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
  const storesCpu = await cpuByCommand(['influxd', 'postgres']);
  const hubCpu = await cpuSeconds(hub.child.pid);
  const fleetCpu = process.cpuUsage();
  const fleet = await runFleet(o, households, passwords, (p) =>
    log(`  ${(p.elapsedMs / 1000).toFixed(0)} s receipted ${p.receipted}/${p.total} (${p.readingsPerSecond}/s)`),
  );
  const storesCpuEnd = await cpuByCommand(['influxd', 'postgres']);
  const fleetCpuEnd = process.cpuUsage(fleetCpu);
  // where the machine's CPU went while the fleet was filed (seconds)
  const drainCpuSeconds = {
    hub: ((await cpuSeconds(hub.child.pid)) ?? 0) - (hubCpu ?? 0),
    fleet: (fleetCpuEnd.user + fleetCpuEnd.system) / 1e6,
    influxd: (storesCpuEnd.influxd ?? 0) - (storesCpu.influxd ?? 0),
    postgres: (storesCpuEnd.postgres ?? 0) - (storesCpu.postgres ?? 0),
  };
  const ledger = await s.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM reading_ledger WHERE stored_at IS NOT NULL',
  );
  const counted = await influxQuery('SELECT count("value") FROM /.*/', s.influxDb);
  const influxPoints = counted.results[0]?.series?.reduce((a, x) => a + Number(x.values[0]?.[1] ?? 0), 0) ?? 0;
  const episodes = await s.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM alert_episodes');
  const hubRss = await peakRssMiB(hub.child.pid);
  // rules really ran: the hub's own counter of rule evaluations (Prometheus text at /metrics)
  const metricsText = await (await fetch(new URL('/metrics', hub.httpUrl))).text();
  const ruleOutcomes: Record<string, number> = {};
  for (const l of metricsText.split('\n').filter((x) => x.startsWith('vigil_rule_evaluations_total{'))) {
    const outcome = /outcome="([^"]+)"/.exec(l)?.[1] ?? 'unknown';
    ruleOutcomes[outcome] = (ruleOutcomes[outcome] ?? 0) + Number(l.split(' ').pop());
  }
  const ruleEvaluations = Object.values(ruleOutcomes).reduce((a, b) => a + b, 0);
  // where the filing groups' wall time went, per stage and lane (seconds, summed over groups)
  const stageSeconds: Record<string, number> = {};
  for (const l of metricsText.split('\n').filter((x) => x.startsWith('vigil_ingest_stage_seconds_total{'))) {
    const key = `${/lane="([^"]+)"/.exec(l)?.[1]}.${/stage="([^"]+)"/.exec(l)?.[1]}`;
    stageSeconds[key] = Math.round(Number(l.split(' ').pop()) * 10) / 10;
  }
  const groups = /^vigil_ingest_group_readings_count\{lane="bulk"\} (\d+)/m.exec(metricsText)?.[1];

  // the physical limit: the same points straight to InfluxDB (line protocol, HTTP /write), each
  // batch size x concurrency into a fresh database (a new index, as the hub's run had); the best wins
  const points = households.flatMap((h) => h.readings.map((reading) => ({ reading, patientId: h.patients[0]!.id })));
  const lines = points.map((p) => toLine(p.reading, p.patientId));
  const sweep: { batch: number; concurrency: number; pointsPerSecond: number | null; error?: string }[] = [];
  for (const batch of RAW_BATCH_SIZES)
    for (const concurrency of RAW_CONCURRENCY) {
      const db = `${s.influxDb}_raw_${batch}_${concurrency}`;
      // shard groups as long as the hub's raw policy has (hub/storage/influx/timeseries.ts)
      await influxQuery(`CREATE DATABASE "${db}" WITH SHARD DURATION ${SHARD_DURATIONS.raw}`);
      try {
        const t = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < lines.length) {
              const from = next;
              next += batch;
              await writeLines(db, lines.slice(from, from + batch));
            }
          }),
        );
        sweep.push({
          batch,
          concurrency,
          pointsPerSecond: Math.round(lines.length / ((performance.now() - t) / 1000)),
        });
      } catch (e) {
        // InfluxDB refused or timed out a write of this configuration (a loaded server): it is
        // not a rate InfluxDB sustains, so it cannot be the best; the sweep goes on
        sweep.push({ batch, concurrency, pointsPerSecond: null, error: (e as Error).message.slice(0, 120) });
      } finally {
        await influxQuery(`DROP DATABASE "${db}"`);
      }
    }
  const best = sweep.reduce((a, b) => ((b.pointsPerSecond ?? 0) > (a.pointsPerSecond ?? 0) ? b : a));
  if (best.pointsPerSecond === null) throw new Error('RAW_SWEEP_FAILED: every raw configuration failed');
  log(`raw InfluxDB: best ${best.pointsPerSecond} points/s (batches of ${best.batch}, ${best.concurrency} at once)`);

  // the ceiling of a ledger row per reading: both stores' writes and nothing else, on this machine
  const storesSweep = await sweepBothStores(s.pgUrl, s.influxDb, points, lines);
  const storesBest = storesSweep.reduce((a, b) => ((b.readingsPerSecond ?? 0) > (a.readingsPerSecond ?? 0) ? b : a));
  log(`both stores alone: best ${storesBest.readingsPerSecond ?? 'none'} readings/s`);

  report('hub-ingest', {
    hubReadingsPerSecond: fleet.readingsPerSecond,
    rawInfluxBestPointsPerSecond: best.pointsPerSecond,
    ratioToRawBest: Math.round((fleet.readingsPerSecond / best.pointsPerSecond) * 1000) / 1000,
    loadAverage1mAfterRaw: loadAverage(),
    rawInfluxBest: { batch: best.batch, concurrency: best.concurrency },
    rawInfluxSweep: sweep,
    storesBestReadingsPerSecond: storesBest.readingsPerSecond,
    storesCeilingRatio:
      storesBest.readingsPerSecond === null
        ? null
        : Math.round((storesBest.readingsPerSecond / best.pointsPerSecond) * 1000) / 1000,
    storesBest: { chunk: storesBest.chunk, concurrency: storesBest.concurrency, ledger: storesLedger() },
    storesSweep,
    batchSize: args.batch,
    gateways: args.gateways,
    readings: fleet.total,
    receipted: fleet.receipted,
    lost: fleet.lost,
    outcomes: fleet.outcomes,
    resent: fleet.resent,
    storedInLedger: ledger.rows[0]!.n,
    storedInInflux: influxPoints,
    exactlyOnce: ledger.rows[0]!.n === fleet.total && influxPoints === fleet.total,
    ruleEvaluations,
    ruleOutcomes,
    episodesOpened: episodes.rows[0]!.n,
    stageSeconds,
    bulkGroups: groups === undefined ? null : Number(groups),
    drainS: fleet.drainMs / 1000,
    receiptLatencyMs: fleet.receiptLatencyMs,
    hubPeakRssMiB: hubRss,
    drainCpuSeconds: Object.fromEntries(Object.entries(drainCpuSeconds).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    qos: 1,
    rulesEvaluated: ruleEvaluations > 0,
    loadAverage1m: load,
  });
} finally {
  await hub.stop();
  await s.cleanup();
}
