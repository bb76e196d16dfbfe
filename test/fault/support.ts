import { createServer } from 'node:net';
import { InfluxDB } from 'influx';
import type pg from 'pg';
import { expect } from 'vitest';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import type { HouseholdBacklog } from '../../simulators/fleet/backlog';
import { FLEET_DEFAULTS, type FleetOptions, type FleetProgress, type FleetSummary } from '../../simulators/fleet/fleet';
import { waitFor as sharedWaitFor } from '../support/wait';

/** A TCP port free right now on 127.0.0.1 (a restarted broker must come back on the same port). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function startHubProcess(env: {
  pgUrl: string;
  influxUrl: string;
  influxDb: string;
  mqttPort?: number;
  extra?: NodeJS.ProcessEnv;
}): Promise<ServiceProcess> {
  return startService('hub', 'hub/cli.ts', {
    readyEvent: 'hub.ready',
    timeoutMs: 60_000,
    env: {
      VIGIL_PG_URL: env.pgUrl,
      VIGIL_INFLUX_URL: env.influxUrl,
      VIGIL_INFLUX_DATABASE: env.influxDb,
      VIGIL_MQTT_HOST: '127.0.0.1',
      VIGIL_MQTT_PORT: String(env.mqttPort ?? 0),
      VIGIL_HTTP_HOST: '127.0.0.1',
      VIGIL_HTTP_PORT: '0',
      VIGIL_LOG_LEVEL: 'error',
      ...env.extra,
    },
  });
}

/** The service is still running; otherwise the failure shows how it ended (its last lines). */
export function expectAlive(p: ServiceProcess): void {
  const ended = p.child.exitCode !== null || p.child.signalCode !== null;
  expect(ended, `${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.lines.slice(-40).join('\n')}`).toBe(
    false,
  );
}

/** SIGKILL: no shutdown hook runs, exactly like a power cut of that process. */
export async function sigkill(p: ServiceProcess): Promise<void> {
  await p.stop('SIGKILL');
}

export async function influxCount(url: string, database: string): Promise<number> {
  const u = new URL(url);
  const rows = await new InfluxDB({ host: u.hostname, port: Number(u.port), database }).query<{ count: number }>(
    'SELECT count("value") FROM /.*/',
  );
  return rows.reduce((a, r) => a + r.count, 0);
}

/** Ledger rows, and those fully stored (time series written, rules evaluated). */
export async function ledgerCounts(pool: pg.Pool): Promise<{ rows: number; stored: number }> {
  const { rows } = await pool.query<{ n: number; stored: number }>(
    'SELECT count(*)::int AS n, count(stored_at)::int AS stored FROM reading_ledger',
  );
  return { rows: rows[0]!.n, stored: rows[0]!.stored };
}

/** Episodes of one rule per patient: exactly one each means none lost and none doubled. */
export async function episodesPerPatient(pool: pg.Pool, ruleId: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ patient_id: string; n: number }>(
    'SELECT patient_id, count(*)::int AS n FROM alert_episodes WHERE rule_id = $1 GROUP BY patient_id',
    [ruleId],
  );
  return new Map(rows.map((r) => [r.patient_id, r.n]));
}

export const waitFor = (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> =>
  sharedWaitFor(what, ok, timeoutMs, 50);

/** The backlog every fault test flushes: 10 gateways x 168 readings of the crisis scenario. */
export const CRISIS_BACKLOG_READINGS = 1680;

export function crisisFleetOptions(url: string, prefix: string, deadlineMs = 75_000): FleetOptions {
  return {
    ...FLEET_DEFAULTS,
    url,
    gateways: 10,
    readingsPerGateway: 168, // the whole 10-day crisis scenario
    prefix,
    scenario: 'hypertensive-crisis',
    batchSize: 12,
    maxInFlightBatches: 2,
    receiptTimeoutMs: 2000,
    receiptBackoff: false,
    deadlineMs,
    progressIntervalMs: 50,
  };
}

/** Runs `fault` once, at a random moment between 15 % and 60 % of the backlog receipted. */
export function faultAtRandomMoment(fault: () => Promise<void>): {
  onProgress: (p: FleetProgress) => void;
  fired(): Promise<void> | undefined;
} {
  const at = Math.round((0.15 + Math.random() * 0.45) * CRISIS_BACKLOG_READINGS);
  let running: Promise<void> | undefined;
  return {
    onProgress: (p) => {
      if (!running && p.receipted >= at) running = fault();
    },
    fired: () => running,
  };
}

/** After the fault: every reading stored exactly once, and one crisis episode per patient. */
export async function expectStoredOnceWithOneEpisodeEach(
  pool: pg.Pool,
  influx: { url: string; database: string },
  households: HouseholdBacklog[],
  summary: FleetSummary,
): Promise<void> {
  expect(summary.errors).toEqual([]);
  expect(summary).toMatchObject({ total: CRISIS_BACKLOG_READINGS, receipted: CRISIS_BACKLOG_READINGS, lost: 0 });
  expect(await ledgerCounts(pool)).toEqual({ rows: CRISIS_BACKLOG_READINGS, stored: CRISIS_BACKLOG_READINGS });
  expect(await influxCount(influx.url, influx.database)).toBe(CRISIS_BACKLOG_READINGS);
  const episodes = await episodesPerPatient(pool, 'bp-hypertensive-crisis');
  expect([...episodes.keys()].sort()).toEqual(households.map((h) => h.patients[0]!.id).sort());
  expect(
    [...episodes.values()].every((n) => n === 1),
    JSON.stringify([...episodes]),
  ).toBe(true);
}
