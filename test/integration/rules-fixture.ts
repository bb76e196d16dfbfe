import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { MetricName } from '../../contract';
import { bindDevice, createGateway, createPatient, type Program } from '../../hub/admin/provisioning';
import { EpisodeStore } from '../../hub/alerts/episode-store';
import { buildApi, type ApiDeps } from '../../hub/api/app';
import { createHubMetrics } from '../../hub/observability/metrics';
import { HOUR, ManualClock } from '../../hub/rules/clock';
import { RuleEngine } from '../../hub/rules/engine';
import type { FiledReading } from '../../hub/rules/rule';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

export const DEVICE = 'C0:00:00:00:00:01';

/** A migrated database, a manual clock, an engine; readings go into the ledger as ingest files them. */
export async function rulesFixture(opts: { scheduledEveryMs?: number } = {}) {
  const pg: TestPostgres = await createTestPostgres('vigil_rules');
  const clock = new ManualClock(Math.floor(Date.now() / HOUR) * HOUR);
  const metrics = createHubMetrics();
  const log = pino({ level: 'silent' });
  const episodes = new EpisodeStore(pg.pool);
  const engine = new RuleEngine(episodes, metrics, log, {
    pool: pg.pool,
    clock,
    scheduledEveryMs: opts.scheduledEveryMs ?? 1,
  });
  let n = 0;

  async function enroll(id: string, programId: Program, o: { chronicLungDisease?: boolean; device?: string } = {}) {
    await createPatient(pg.pool, {
      id,
      programId,
      displayName: `Patient ${id}`,
      ...(o.chronicLungDisease ? { chronicLungDisease: true } : {}),
    });
    const gw = `gw-${id.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
    await createGateway(pg.pool, { id: gw, patientId: id });
    await bindDevice(pg.pool, { gatewayId: gw, address: o.device ?? DEVICE, patientId: id, driver: 'sim-device' });
    return gw;
  }

  /** Files readings of one measurement (same instant) in the ledger and returns them as ingest hands them to the rules. */
  async function file(
    patientId: string,
    at: Date,
    values: Partial<Record<MetricName, number>>,
    device = DEVICE,
  ): Promise<FiledReading[]> {
    const out: FiledReading[] = [];
    for (const [metric, value] of Object.entries(values) as [MetricName, number][]) {
      const readingId = createHash('sha256')
        .update(`${patientId}|${metric}|${at.toISOString()}|${n++}`)
        .digest('hex')
        .slice(0, 32);
      await pg.pool.query(
        // received when measured (a live device): missing data reads the hub's reception time
        `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, received_at, stored_at)
         VALUES ($1, $2, $3, $4, 'sim-device', $5, $6, 'u', $7, $7, now())`,
        [readingId, patientId, `gw-${patientId.toLowerCase().replace(/[^a-z0-9]/g, '')}`, device, metric, value, at],
      );
      out.push({ readingId, patientId, metric, value, measuredAt: at });
    }
    return out;
  }

  /** file + onStored, with the clock at the reading time. */
  async function measure(
    patientId: string,
    at: Date,
    values: Partial<Record<MetricName, number>>,
    device = DEVICE,
  ): Promise<FiledReading[]> {
    if (clock.now() < at) clock.set(at);
    const rs = await file(patientId, at, values, device);
    await engine.onStored(rs);
    return rs;
  }

  async function episodes_(patientId?: string) {
    const { rows } = await pg.pool.query(
      `SELECT id, patient_id, rule_id, severity, status, breach_count, normal_streak, escalated_from, assignee, summary FROM alert_episodes
       ${patientId ? 'WHERE patient_id = $1' : ''} ORDER BY id`,
      patientId ? [patientId] : [],
    );
    return rows as {
      id: string;
      patient_id: string;
      rule_id: string;
      severity: string;
      status: string;
      breach_count: number;
      normal_streak: number;
      escalated_from: string | null;
      assignee: string | null;
      summary: string;
    }[];
  }

  /** notifications to people (status updates to systems excluded) */
  async function notifications(patientId?: string) {
    const { rows } = await pg.pool.query(
      `SELECT id, episode_id, kind, severity, idempotency_key, created_at FROM notifications WHERE kind <> 'status' ${patientId ? 'AND patient_id = $1' : ''} ORDER BY id`,
      patientId ? [patientId] : [],
    );
    return rows as {
      id: string;
      episode_id: string;
      kind: string;
      severity: string;
      idempotency_key: string;
      created_at: Date;
    }[];
  }

  return {
    pg,
    pool: pg.pool,
    clock,
    metrics,
    log,
    episodes,
    engine,
    enroll,
    file,
    measure,
    episodeRows: episodes_,
    notifications,
    t0: clock.now(),
  };
}
export type RulesFixture = Awaited<ReturnType<typeof rulesFixture>>;

/**
 * The hub's HTTP API over a rules fixture (its PostgreSQL, clock, episodes and rules) and a fresh
 * InfluxDB database; close() stops the API and drops the database.
 */
export async function apiOnFixture(
  f: RulesFixture,
  prefix: string,
  extra: Pick<ApiDeps, 'patientSide'> = {},
): Promise<{ api: FastifyInstance; close(): Promise<void> }> {
  const influx = await createTestInflux(prefix);
  const api = await buildApi({
    pool: f.pool,
    timeseries: new TimeSeriesStore(influx.url, influx.database),
    metrics: f.metrics,
    logLevel: 'silent',
    clock: f.clock,
    episodes: f.episodes,
    rules: f.engine,
    ...extra,
  });
  return {
    api,
    close: async () => {
      await api.close();
      await influx.drop();
    },
  };
}
