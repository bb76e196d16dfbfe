import { z } from 'zod';
import { FLEET_DEFAULTS, buildHouseholds, runFleet } from '../simulators/fleet/fleet';
import { enrollHouseholds } from '../simulators/fleet/enroll';
import { benchArgs, int, loadAverage } from './lib/args';
import { influxQuery, log, peakRssMiB, report, scratchStores, startHubProcess } from './lib/env';

/**
 * Reconnect storm: after an outage every gateway reconnects at once (no CONNECT pacing) and
 * flushes what it buffered. Enrollment (hub provisioning) is done before and timed apart.
 * Figures: time to connect all, time to drain, readings lost (must be 0), re-sends and
 * duplicates, stored exactly once (ledger and InfluxDB counts).
 *   npx tsx bench/reconnect-storm.ts [--gateways 10000] [--days 1] [--max-readings 1000] [--receipt-timeout 600000] [--receipt-backoff true] [--pending-per-address 64]
 * The gateway's own behaviour (fixed 30 s receipt timeout): --receipt-timeout 30000 --receipt-backoff false.
 * --days: the days of buffered readings per gateway (a week is 7; scaled down by default so the
 * run fits the machine: the figures say which). --receipt-timeout defaults to 600 s, longer than
 * the gateway's 30 s: with 30 s every queued gateway re-sends many times while the hub drains
 * (each re-send doubles this simulator's timeout; the real gateway keeps it fixed).
 */
const args = benchArgs(
  z.object({
    gateways: int(1, 10_000, 10_000),
    days: int(1, 31, 1),
    'max-readings': int(1, 100_000, 1000),
    'receipt-timeout': int(1000, 3_600_000, 600_000),
    'receipt-backoff': z.enum(['true', 'false']).default('true'),
    'deadline-s': int(10, 7200, 2400),
    // every simulated box connects from 127.0.0.1, as boxes behind one load balancer would; real
    // boxes come from their own addresses. Default: one pending login per box, so the hub's
    // per-address cap (64, docs/security.md "MQTT edge") is not what the storm measures
    'pending-per-address': int(0, 100_000, 0),
  }),
);
const pendingPerAddress = args['pending-per-address'] || args.gateways;

/** counts of the stable codes in the hub's warn/error log lines, and the first error text of each */
function hubCodes(lines: readonly string[]): { counts: Record<string, number>; firstErrors: Record<string, string> } {
  const counts: Record<string, number> = {};
  const firstErrors: Record<string, string> = {};
  for (const l of lines) {
    const code = /"code":"([A-Z_]+)"/.exec(l)?.[1] ?? (/"level":(40|50|60)/.test(l) ? 'OTHER' : undefined);
    if (!code) continue;
    counts[code] = (counts[code] ?? 0) + 1;
    const err = /"err":"([^"]{0,160})/.exec(l)?.[1];
    if (err !== undefined && !(code in firstErrors)) firstErrors[code] = err;
  }
  return { counts, firstErrors };
}

const s = await scratchStores('vigil_bench_storm');
// warn: the hub's own connection problems (MQTT_CLIENT_ERROR, ...) are counted in the figures
const hub = await startHubProcess(s, {
  VIGIL_LOG_LEVEL: 'warn',
  VIGIL_MQTT_EDGE_MAX_PENDING_PER_ADDRESS: String(pendingPerAddress),
});
try {
  const o = {
    ...FLEET_DEFAULTS,
    url: hub.mqttUrl,
    gateways: args.gateways,
    readingsPerGateway: args['max-readings'],
    prefix: 'storm',
    connectConcurrency: args.gateways, // all at once: the storm
    receiptTimeoutMs: args['receipt-timeout'],
    receiptBackoff: args['receipt-backoff'] === 'true',
    connectTimeoutMs: 60_000,
    deadlineMs: args['deadline-s'] * 1000,
    progressIntervalMs: 10_000,
  };
  const households = buildHouseholds({ ...o, days: args.days });
  const t = Date.now();
  log(`storm: enrolling ${args.gateways} households`);
  const passwords = await enrollHouseholds(s.pool, households, 16);
  const enrollS = (Date.now() - t) / 1000;
  const load = loadAverage();
  log(
    `storm: ${args.gateways} gateways reconnect at once, ${households.reduce((a, h) => a + h.readings.length, 0)} readings buffered`,
  );
  const fleet = await runFleet(o, households, passwords, (p) =>
    log(
      `  ${(p.elapsedMs / 1000).toFixed(0)} s connected ${p.connected} drained ${p.finished} receipted ${p.receipted}/${p.total} resent ${p.resent}`,
    ),
  );
  const ledger = await s.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM reading_ledger WHERE stored_at IS NOT NULL',
  );
  const counted = await influxQuery('SELECT count("value") FROM /.*/', s.influxDb);
  const influxPoints = counted.results[0]?.series?.reduce((a, x) => a + Number(x.values[0]?.[1] ?? 0), 0) ?? 0;
  const warnings = hubCodes(hub.lines);
  report('reconnect-storm', {
    drainS: fleet.drainMs / 1000,
    lost: fleet.lost,
    gateways: fleet.gateways,
    connectAllS: fleet.connectMs / 1000,
    pendingLoginsPerAddress: pendingPerAddress,
    readings: fleet.total,
    daysBufferedPerGateway: args.days,
    readingsPerGatewayMean: Math.round((fleet.total / fleet.gateways) * 10) / 10,
    scaledDown: args.days < 7 ? `${args.days} day(s) of buffered readings per gateway instead of a week` : null,
    receipted: fleet.receipted,
    storedInLedger: ledger.rows[0]!.n,
    storedInInflux: influxPoints,
    storedExactlyOnce: ledger.rows[0]!.n === fleet.total && influxPoints === fleet.total,
    outcomes: fleet.outcomes,
    resent: fleet.resent,
    reconnects: fleet.reconnects,
    connectFailures: fleet.connectFailures,
    slowConnects: fleet.slowConnects,
    hubWarnings: warnings.counts,
    hubWarningFirstErrors: warnings.firstErrors,
    readingsPerSecond: fleet.readingsPerSecond,
    receiptLatencyMs: fleet.receiptLatencyMs,
    receiptTimeoutMs: args['receipt-timeout'],
    receiptBackoff: args['receipt-backoff'] === 'true',
    enrollS,
    hubPeakRssMiB: await peakRssMiB(hub.child.pid),
    fleetProcessPeakRssMiB: await peakRssMiB(process.pid),
    errors: fleet.errors,
    loadAverage1m: load,
  });
} finally {
  await hub.stop();
  await s.cleanup();
}
