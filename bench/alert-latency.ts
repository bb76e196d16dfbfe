import { z } from 'zod';
import { METRICS, readingId, type MetricName, type Reading } from '../contract';
import { createGateway, createPatient } from '../hub';
import { buildHouseholds, percentile } from '../simulators/fleet/fleet';
import { enrollHouseholds } from '../simulators/fleet/enroll';
import { simDeviceAddress } from '../simulators/patients';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, report, scratchStores, startHubProcess } from './lib/env';
import { connectGateway, publishBatch } from './lib/raw-gateway';

/**
 * Alert latency: a confirmed hypertensive crisis (two readings >= 180/120, 2 min apart in device
 * time, rule bp-hypertensive-crisis) published by a probe gateway -> the episode row visible in
 * PostgreSQL (polled every 2 ms). One fresh patient per probe. First idle, then while background
 * gateways publish a steady stream of ordinary readings (--background-rate readings/s).
 * Background gateways send batches of --background-batch readings with at most
 * --background-in-flight unacknowledged each, so the rate actually filed is what the hub sustains.
 *   npx tsx bench/alert-latency.ts [--probes 40] [--background-rate 100] [--interval-ms 400]
 */
const args = benchArgs(
  z.object({
    probes: int(1, 1000, 40),
    'background-rate': int(0, 100_000, 100),
    'background-gateways': int(1, 1000, 100),
    /** readings per background batch, and unacknowledged batches per gateway at most (as a box's uplink window) */
    'background-batch': int(1, 1000, 50),
    'background-in-flight': int(1, 64, 2),
    'interval-ms': int(50, 10_000, 400),
  }),
);

function crisisReadings(gatewayId: string, now: number): Reading[] {
  const device = { address: simDeviceAddress(gatewayId, 'bp-cuff'), driver: 'sig-blood-pressure' };
  const out: Reading[] = [];
  for (const [offsetMs, sys, dia] of [
    [-120_000, 192, 122],
    [0, 188, 121],
  ] as const) {
    const at = new Date(now + offsetMs);
    const deviceTime = at.toISOString().slice(0, 19);
    for (const [metric, value] of [
      ['blood_pressure_systolic', sys],
      ['blood_pressure_diastolic', dia],
      ['heart_rate', 95],
    ] as [MetricName, number][]) {
      out.push({
        id: readingId({ device, metric, deviceTime }),
        gatewayId,
        device,
        metric,
        value,
        unit: METRICS[metric].unit,
        measuredAt: `${deviceTime}.000Z`,
        deviceTime,
        flags: [],
        clock: { offsetMs: 0, trusted: true },
      });
    }
  }
  return out;
}

const s = await scratchStores('vigil_bench_alert');
const hub = await startHubProcess(s, { VIGIL_MQTT_GATEWAY_RATE: '1000', VIGIL_MQTT_GATEWAY_BURST: '1000' });
const clients: { end(force?: boolean): unknown }[] = [];
try {
  // probe households: one patient and one gateway each
  const probes: { gatewayId: string; patientId: string; password: string }[] = [];
  for (let i = 0; i < args.probes * 2; i++) {
    const gatewayId = `probe-${String(i).padStart(4, '0')}`;
    const patientId = `probe-patient-${i}`;
    await createPatient(
      s.pool,
      { id: patientId, programId: 'cardiovascular_prevention', displayName: `probe ${i}` },
      'bench',
    );
    probes.push({ gatewayId, patientId, ...(await createGateway(s.pool, { id: gatewayId, patientId }, 'bench')) });
  }
  const probeClients = await Promise.all(probes.map((p) => connectGateway(hub.mqttUrl, p.gatewayId, p.password)));
  clients.push(...probeClients);

  // background: stable patients, readings taken from their simulated backlogs, paced
  const bg = buildHouseholds({
    gateways: args['background-gateways'],
    readingsPerGateway: 10_000,
    prefix: 'bg',
    seed: 3,
    scenario: 'stable-hypertensive',
  });
  const bgPasswords = await enrollHouseholds(s.pool, bg);
  const bgClients = await Promise.all(
    bg.map((h) => connectGateway(hub.mqttUrl, h.gatewayId, bgPasswords.get(h.gatewayId)!)),
  );
  clients.push(...bgClients);

  /**
   * the live lane's stage seconds and group count so far (Prometheus text at /metrics), and the
   * hub's event-loop delay since the previous scrape (prom-client resets it on each collect)
   */
  async function liveStages(): Promise<Map<string, number>> {
    const text = await (await fetch(new URL('/metrics', hub.httpUrl))).text();
    const out = new Map<string, number>();
    for (const l of text.split('\n')) {
      if (l.startsWith('vigil_ingest_stage_seconds_total{') && l.includes('lane="live"'))
        out.set(/stage="([^"]+)"/.exec(l)?.[1] ?? '?', Number(l.split(' ').pop()));
      if (l.startsWith('vigil_ingest_group_readings_count{lane="live"}')) out.set('groups', Number(l.split(' ').pop()));
      const lag = /^vigil_hub_nodejs_eventloop_lag_(max|p99)_seconds (\S+)$/.exec(l);
      if (lag) out.set(`loop:${lag[1]}`, Number(lag[2]));
    }
    return out;
  }

  const pg = await s.pool.connect();
  async function probe(i: number): Promise<number> {
    const p = probes[i]!;
    const t0 = Date.now();
    await publishBatch(probeClients[i]!, p.gatewayId, crisisReadings(p.gatewayId, t0));
    for (;;) {
      const r = await pg.query(
        `SELECT 1 FROM alert_episodes WHERE patient_id = $1 AND rule_id = 'bp-hypertensive-crisis'`,
        [p.patientId],
      );
      if (r.rowCount) return Date.now() - t0;
      if (Date.now() - t0 > 120_000) throw new Error(`no episode for probe ${i} after 120 s`);
      await new Promise((res) => setTimeout(res, 2));
    }
  }
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  async function series(from: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = from; i < from + args.probes; i++) {
      out.push(await probe(i));
      await sleep(args['interval-ms']);
    }
    return out.sort((a, b) => a - b);
  }

  log(`alert latency: ${args.probes} probes idle`);
  const idle = await series(0);

  log(`alert latency: ${args.probes} probes under ${args['background-rate']} readings/s of background`);
  let stop = false as boolean; // set once the measured phase ends, read by the pacer loop
  let bgSent = 0;
  const perBatch = args['background-batch'];
  const cursors = bg.map(() => 0);
  // each background gateway keeps at most `background-in-flight` batches unacknowledged (the hub
  // PUBACKs once stored): a hub slower than the target rate slows the senders down, as it does a
  // real box, instead of piling publishes up in this process
  const inFlight = bg.map(() => 0);
  let freed: (() => void) | undefined;
  const pacer = (async () => {
    const t0 = Date.now();
    let k = 0;
    while (!stop && args['background-rate'] > 0) {
      const due = t0 + (bgSent / args['background-rate']) * 1000;
      if (Date.now() < due) await sleep(due - Date.now());
      let g = -1;
      for (let tries = 0; tries < bg.length && g < 0; tries++) {
        const c = k++ % bg.length;
        if (inFlight[c]! < args['background-in-flight'] && cursors[c]! < bg[c]!.readings.length) g = c;
      }
      if (g < 0) {
        if (cursors.every((c, i) => c >= bg[i]!.readings.length)) break; // every backlog sent
        await new Promise<void>((res) => (freed = res));
        continue;
      }
      const h = bg[g]!;
      const slice = h.readings.slice(cursors[g], cursors[g]! + perBatch);
      cursors[g]! += perBatch;
      inFlight[g]!++;
      void publishBatch(bgClients[g]!, h.gatewayId, slice)
        .catch(() => {})
        .finally(() => {
          inFlight[g]!--;
          freed?.();
          freed = undefined;
        });
      bgSent += slice.length;
    }
  })();
  await sleep(3000); // reach a steady state
  const loadStart = loadAverage();
  const storedBg = async () =>
    (
      await s.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM reading_ledger WHERE gateway_id LIKE 'bg-%' AND stored_at IS NOT NULL`,
      )
    ).rows[0]!.n;
  // the background rate the hub actually filed while the probes ran (the target is what was sent)
  const phaseStart = { at: Date.now(), stored: await storedBg(), stages: await liveStages() };
  const loaded = await series(args.probes);
  const phaseEnd = { at: Date.now(), stored: await storedBg(), stages: await liveStages() };
  // where a live group's time went while loaded: mean ms per group and stage (the hub's metrics)
  const liveGroups = (phaseEnd.stages.get('groups') ?? 0) - (phaseStart.stages.get('groups') ?? 0);
  const liveGroupStageMeanMs = Object.fromEntries(
    [...phaseEnd.stages]
      .filter(([k]) => k !== 'groups' && !k.startsWith('loop:'))
      .map(([k, v]) => [
        k,
        Math.round(((v - (phaseStart.stages.get(k) ?? 0)) * 10_000) / Math.max(1, liveGroups)) / 10,
      ]),
  );
  stop = true;
  await pacer;
  const stored = await s.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM reading_ledger WHERE gateway_id LIKE 'bg-%' AND stored_at IS NOT NULL`,
  );
  pg.release();

  report('alert-latency', {
    underLoadP50Ms: percentile(loaded, 50),
    underLoadP90Ms: percentile(loaded, 90),
    underLoadP95Ms: percentile(loaded, 95),
    underLoadP99Ms: percentile(loaded, 99),
    underLoadMaxMs: loaded.at(-1),
    // with 40 probes p99 is the slowest one: the tail says whether it is one outlier or a trend
    underLoadSlowestMs: loaded.slice(-5),
    idleP50Ms: percentile(idle, 50),
    idleP99Ms: percentile(idle, 99),
    probes: args.probes,
    backgroundReadingsPerSecondTarget: args['background-rate'],
    backgroundReadingsSent: bgSent,
    backgroundReadingsStoredByEnd: stored.rows[0]!.n,
    backgroundStoredPerSecondWhileProbing: Math.round(
      ((phaseEnd.stored - phaseStart.stored) * 1000) / Math.max(1, phaseEnd.at - phaseStart.at),
    ),
    backgroundGateways: args['background-gateways'],
    backgroundBatch: perBatch,
    liveGroupsWhileProbing: liveGroups,
    liveGroupStageMeanMs,
    // a probe's statements wait for the hub's loop to read their replies: is the loop the tail?
    hubEventLoopDelayWhileProbingMs: {
      p99: Math.round((phaseEnd.stages.get('loop:p99') ?? NaN) * 1000),
      max: Math.round((phaseEnd.stages.get('loop:max') ?? NaN) * 1000),
      resolutionMs: 10,
    },
    backgroundInFlightPerGateway: args['background-in-flight'],
    measured:
      'MQTT publish of a confirmed crisis (2 readings >= 180/120, 2 min apart) -> alert_episodes row visible (2 ms polling)',
    loadAverage1m: loadStart,
  });
} finally {
  for (const c of clients) c.end(true);
  await hub.stop();
  await s.cleanup();
}
