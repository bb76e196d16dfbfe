import type pg from 'pg';
import type { ScenarioId } from '../patients';
import { householdBacklog, type HouseholdBacklog } from './backlog';
import { enrollHouseholds } from './enroll';
import { SimGateway, type SimGatewayStats } from './gateway';

export interface FleetOptions {
  /** hub broker, e.g. mqtt://127.0.0.1:1883 */
  url: string;
  gateways: number;
  readingsPerGateway: number;
  prefix: string;
  seed: number;
  scenario?: ScenarioId | undefined;
  batchSize: number;
  maxInFlightBatches: number;
  receiptTimeoutMs: number;
  receiptBackoff: boolean;
  /** at most this many CONNECTs outstanding at once (a real storm has none: use gateways) */
  connectConcurrency: number;
  connectTimeoutMs: number;
  keepaliveS: number;
  /** give up (and report what is left) after this long */
  deadlineMs: number;
  progressIntervalMs: number;
}

export const FLEET_DEFAULTS: Omit<FleetOptions, 'url'> = {
  gateways: 10,
  readingsPerGateway: 100,
  prefix: 'fleet',
  seed: 1,
  batchSize: 200,
  maxInFlightBatches: 4,
  receiptTimeoutMs: 30_000,
  receiptBackoff: true,
  connectConcurrency: 500,
  connectTimeoutMs: 30_000,
  keepaliveS: 120,
  deadlineMs: 30 * 60_000,
  progressIntervalMs: 1000,
};

export interface FleetProgress {
  elapsedMs: number;
  connected: number;
  finished: number;
  total: number;
  receipted: number;
  resent: number;
  readingsPerSecond: number;
}

export interface FleetSummary {
  gateways: number;
  readingsPerGateway: number;
  total: number;
  receipted: number;
  lost: number;
  outcomes: SimGatewayStats['outcomes'];
  published: number;
  resent: number;
  batches: number;
  reconnects: number;
  /** gateways refused by the broker (bad credentials): their backlog is lost */
  connectFailures: number;
  /** gateways without a CONNACK within connectTimeoutMs of their first attempt (they kept retrying) */
  slowConnects: number;
  /** first CONNECT to the last gateway connected (or given up waiting for, see slowConnects) */
  connectMs: number;
  /** first CONNECT to the last receipt */
  drainMs: number;
  readingsPerSecond: number;
  receiptLatencyMs: { p50: number; p99: number; max: number };
  errors: string[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** Builds every household's backlog (deterministic from prefix, index and seed). */
export function buildHouseholds(
  o: Pick<FleetOptions, 'gateways' | 'readingsPerGateway' | 'prefix' | 'seed' | 'scenario'> & {
    days?: number | undefined;
  },
): HouseholdBacklog[] {
  return Array.from({ length: o.gateways }, (_, i) =>
    householdBacklog({
      prefix: o.prefix,
      index: i + 1,
      count: o.readingsPerGateway,
      seed: o.seed,
      scenario: o.scenario,
      days: o.days,
    }),
  );
}

/**
 * Runs a fleet: N gateways connect (bounded CONNECT concurrency), each flushes its backlog and
 * waits for receipts, re-sending what is not receipted. Resolves when every backlog is empty or
 * at the deadline; `lost` is what was never receipted.
 */
export async function runFleet(
  o: FleetOptions,
  households: readonly HouseholdBacklog[],
  passwords: ReadonlyMap<string, string>,
  onProgress?: (p: FleetProgress) => void,
  /** stops the run early (background load); what is left counts as not receipted */
  signal?: AbortSignal,
): Promise<FleetSummary> {
  const latencies: number[] = [];
  const gws = households.map(
    (h) =>
      new SimGateway({
        url: o.url,
        gatewayId: h.gatewayId,
        password: passwords.get(h.gatewayId) ?? '',
        readings: h.readings,
        batchSize: o.batchSize,
        maxInFlightBatches: o.maxInFlightBatches,
        receiptTimeoutMs: o.receiptTimeoutMs,
        receiptBackoff: o.receiptBackoff,
        connectTimeoutMs: o.connectTimeoutMs,
        keepaliveS: o.keepaliveS,
        onReceipt: (ms) => latencies.push(ms),
      }),
  );
  const total = gws.reduce((a, g) => a + g.stats.total, 0);
  const t0 = Date.now();
  const errors: string[] = [];
  const progress = () => {
    const receipted = gws.reduce((a, g) => a + g.stats.receipted, 0);
    const elapsedMs = Date.now() - t0;
    return {
      elapsedMs,
      connected: gws.filter((g) => g.stats.connectedAt).length,
      finished: gws.filter((g) => g.stats.doneAt).length,
      total,
      receipted,
      resent: gws.reduce((a, g) => a + g.stats.resent, 0),
      readingsPerSecond: Math.round(receipted / Math.max(0.001, elapsedMs / 1000)),
    };
  };
  const ticker = onProgress ? setInterval(() => onProgress(progress()), o.progressIntervalMs) : undefined;

  let next = 0;
  const connector = async () => {
    let g;
    while ((g = gws[next++])) {
      try {
        await g.start();
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  };
  const deadline = new Promise<'deadline' | 'aborted'>((r) => {
    setTimeout(() => r('deadline'), o.deadlineMs).unref();
    signal?.addEventListener('abort', () => r('aborted'), { once: true });
  });
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.connectConcurrency, gws.length)) }, connector));
    const outcome = await Promise.race([Promise.allSettled(gws.map((g) => g.done)), deadline]);
    if (outcome === 'aborted') errors.push('aborted');
    else if (outcome === 'deadline')
      errors.push(
        `deadline of ${o.deadlineMs} ms reached with ${gws.reduce((a, g) => a + g.remaining, 0)} readings not receipted`,
      );
  } finally {
    if (ticker) clearInterval(ticker);
    onProgress?.(progress());
  }
  const lastDone = Math.max(t0, ...gws.map((g) => g.stats.doneAt ?? 0));
  await Promise.all(gws.map((g) => g.stop()));
  const sum = (f: (s: SimGatewayStats) => number) => gws.reduce((a, g) => a + f(g.stats), 0);
  latencies.sort((a, b) => a - b);
  const receipted = sum((s) => s.receipted);
  const drainMs = lastDone - t0;
  return {
    gateways: gws.length,
    readingsPerGateway: o.readingsPerGateway,
    total,
    receipted,
    lost: total - receipted,
    outcomes: {
      stored: sum((s) => s.outcomes.stored),
      duplicate: sum((s) => s.outcomes.duplicate),
      quarantined: sum((s) => s.outcomes.quarantined),
      rejected: sum((s) => s.outcomes.rejected),
    },
    published: sum((s) => s.published),
    resent: sum((s) => s.resent),
    batches: sum((s) => s.batches),
    reconnects: sum((s) => Math.max(0, s.connects - 1)),
    connectFailures: errors.filter((e) => !e.startsWith('deadline') && e !== 'aborted').length,
    slowConnects: gws.filter((g) => g.stats.slowConnect).length,
    connectMs: Math.max(t0, ...gws.map((g) => g.stats.connectedAt ?? 0)) - t0,
    drainMs,
    readingsPerSecond: Math.round(receipted / Math.max(0.001, drainMs / 1000)),
    receiptLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 },
    errors: errors.slice(0, 10),
  };
}

/** Enroll + run: the whole fleet against a hub whose PostgreSQL we can reach. */
export async function enrollAndRunFleet(
  pool: pg.Pool,
  o: FleetOptions,
  onProgress?: (p: FleetProgress) => void,
): Promise<FleetSummary & { enrollMs: number }> {
  const households = buildHouseholds(o);
  const t = Date.now();
  const passwords = await enrollHouseholds(pool, households);
  const enrollMs = Date.now() - t;
  return { ...(await runFleet(o, households, passwords, onProgress)), enrollMs };
}
