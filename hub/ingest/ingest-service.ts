import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type pg from 'pg';
import { readingBatchSchema, readingSchema, topicFor, type Reading, type Receipt } from '../../contract';
import type { HubMetrics } from '../observability/metrics';
import type { RuleEngine } from '../rules/engine';
import type { FiledReading } from '../rules/rule';
import type { StoredPoint, TimeSeriesStore } from '../storage/influx/timeseries';
import { TimeSeriesWriteError } from '../storage/influx/write-batcher';
import { timeTrustOf } from '../rules/time-trust';
import { lockPatients } from '../alerts/audit';
import { inSharedTransaction, shareAmbientTransaction } from '../storage/postgres/transaction-scope';
import { GroupCommit } from './group-commit';
import { fileInLedger, markStored, quarantineAll } from './ledger';
import type { PatientMapper } from './patient-mapping';

/** Stable ingest error codes (docs/errors.md). */
export type IngestErrorCode =
  | 'PAYLOAD_TOO_LARGE'
  | 'MALFORMED_JSON'
  | 'INVALID_BATCH'
  | 'GATEWAY_MISMATCH'
  | 'INVALID_READING'
  | 'TIMESERIES_REJECTED';

export interface IngestDeps {
  pool: pg.Pool;
  timeseries: TimeSeriesStore;
  mapper: PatientMapper;
  rules: RuleEngine;
  metrics: HubMetrics;
  log: Logger;
  maxPayloadBytes: number;
  publishReceipt(gatewayId: string, receipt: Receipt): Promise<void>;
  /** the hub's clock for reception times (simulated by the replay tool); the database's now() when absent */
  clock?: { now(): Date };
  /** readings filed together at most (many gateways' batches); default GROUP_MAX_READINGS */
  groupMaxReadings?: number;
  /** groups filed at once; default GROUP_CONCURRENCY */
  groupConcurrency?: number;
  /** rule shards evaluated at once per bulk group; default ruleShardsFor(10) */
  ruleShards?: number;
}

/**
 * Group size and overlap, measured with bench/hub-ingest.ts (bench/README.md): groups of up to
 * 10 000 readings keep InfluxDB writes near their best size; two groups in flight overlap one
 * group's PostgreSQL work with the other's InfluxDB write.
 */
export const GROUP_MAX_READINGS = 10_000;
export const GROUP_CONCURRENCY = 2;
/**
 * Rule evaluations at once per bulk group, each holding one connection for its transaction: the
 * bulk groups' shards and the live lane's one take at most half of the PostgreSQL pool, the rest
 * serves the group's other stages, the API, the scheduler and the broker's authentications
 * (pool 10: 2 shards, 24: 5, 40: 8 at most).
 */
export function ruleShardsFor(poolSize: number, groupConcurrency = GROUP_CONCURRENCY): number {
  return Math.max(1, Math.min(8, Math.floor((poolSize / 2 - 1) / groupConcurrency)));
}
/** a batch whose newest reading is younger than this is live (its own lane) */
export const LIVE_WINDOW_MS = 15 * 60_000;
const LIVE_GROUP_MAX_READINGS = 2000;

interface FilingBatch {
  gatewayId: string;
  readings: Reading[];
}

interface Filed {
  reading: Reading;
  patientId: string;
  gatewayId: string;
  /** its batch's receipt results */
  results: Result[];
}

/** a reading not stored before, at its canonical time (the ledger's first copy) */
interface Fresh extends Filed {
  measuredAt: Date;
}

function toStoredPoint({ reading: r, patientId, gatewayId, measuredAt }: Fresh): StoredPoint {
  return {
    readingId: r.id,
    patientId,
    gatewayId,
    deviceAddress: r.device.address,
    driver: r.device.driver,
    metric: r.metric,
    value: r.value,
    measuredAt,
  };
}

type Result = Receipt['results'][number];

/**
 * Files one reading batch: validate each reading, map it to a patient (or quarantine it), file it
 * in the ledger, write the time series, evaluate rules, and only then send the receipt.
 * Throws when a store is unavailable: no receipt goes out, so the gateway keeps and re-sends.
 */
export class IngestService {
  /** backlogs (readings measured a while ago): large groups, filed in arrival order */
  private readonly bulk: GroupCommit<FilingBatch, Result[]>;
  /** live readings (just measured): their own lane, never queued behind a backlog being drained */
  private readonly live: GroupCommit<FilingBatch, Result[]>;

  constructor(private readonly d: IngestDeps) {
    // the rules' reads inside a shard's transaction use its connection (transaction-scope.ts)
    shareAmbientTransaction(d.pool);
    this.bulk = new GroupCommit(
      (batches) => this.fileGroup(batches, { ruleShards: d.ruleShards ?? ruleShardsFor(10), live: false }),
      (b) => b.readings.length,
      { maxWeight: d.groupMaxReadings ?? GROUP_MAX_READINGS, concurrency: d.groupConcurrency ?? GROUP_CONCURRENCY },
    );
    this.live = new GroupCommit(
      (batches) => this.fileGroup(batches, { ruleShards: 1, live: true }),
      (b) => b.readings.length,
      { maxWeight: LIVE_GROUP_MAX_READINGS, concurrency: 1 },
    );
  }

  async handleReadings(gatewayId: string, topic: string, payload: Buffer): Promise<void> {
    const end = this.d.metrics.writeLatency.startTimer();
    if (payload.length > this.d.maxPayloadBytes) {
      return this.deadLetter(
        gatewayId,
        topic,
        'PAYLOAD_TOO_LARGE',
        `${payload.length} bytes`,
        payload.subarray(0, 1024).toString('utf8'),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (e) {
      return this.deadLetter(gatewayId, topic, 'MALFORMED_JSON', (e as Error).message, payload.toString('utf8'));
    }
    const batch = readingBatchSchema.safeParse(json);
    if (!batch.success) {
      return this.deadLetter(
        gatewayId,
        topic,
        'INVALID_BATCH',
        batch.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        JSON.stringify(json),
      );
    }
    if (batch.data.gatewayId !== gatewayId) {
      return this.deadLetter(
        gatewayId,
        topic,
        'GATEWAY_MISMATCH',
        `batch says ${batch.data.gatewayId}`,
        JSON.stringify(json),
      );
    }

    const results: Result[] = [];
    const valid: Reading[] = [];
    for (const raw of batch.data.readings) {
      const parsed = readingSchema.safeParse(raw);
      const rawId = typeof (raw as { id?: unknown } | null)?.id === 'string' ? (raw as { id: string }).id : undefined;
      if (parsed.success && parsed.data.gatewayId === gatewayId) {
        valid.push(parsed.data);
        continue;
      }
      const reason = parsed.success
        ? 'reading gatewayId differs from the topic'
        : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      await this.deadLetter(gatewayId, topic, 'INVALID_READING', reason, JSON.stringify(raw));
      if (rawId) results.push({ id: rawId, outcome: 'rejected', code: 'INVALID_READING' });
    }

    try {
      results.push(...(await this.file(gatewayId, valid)));
    } catch (e) {
      this.d.metrics.storeFailures.inc({ store: (e as { store?: string }).store ?? 'unknown' });
      this.d.log.warn(
        { gatewayId, batchId: batch.data.batchId, err: (e as Error).message, code: 'STORE_UNAVAILABLE' },
        'batch not stored; no receipt, the gateway will re-send',
      );
      throw e;
    }
    for (const r of results) this.d.metrics.readingsReceived.inc({ outcome: r.outcome });
    this.d.metrics.batches.inc();
    await this.d.publishReceipt(gatewayId, { v: 1, batchId: batch.data.batchId, results });
    end();
  }

  /**
   * Files one gateway's valid readings as part of the next group (see GroupCommit): in the live
   * lane when its newest reading was measured within LIVE_WINDOW_MS (a crisis reading is alerted
   * on at once, even while the hub drains a reconnect storm's backlogs), else in the bulk lane.
   */
  private file(gatewayId: string, readings: Reading[]): Promise<Result[]> {
    if (readings.length === 0) return Promise.resolve([]);
    const newest = Math.max(...readings.map((r) => Date.parse(r.measuredAt)));
    const lane = newest >= Date.now() - LIVE_WINDOW_MS ? this.live : this.bulk;
    return lane.submit({ gatewayId, readings });
  }

  /**
   * One group of batches from any number of gateways, with a fixed number of store round trips
   * whatever its size: mapping (2 queries), ledger insert-and-dedup (1), quarantine (1), InfluxDB
   * (one write per group), rules (settings and windowed history read once per shard), each shard
   * marking its readings stored in its own transaction (1 per shard).
   */
  private async fileGroup(batches: FilingBatch[], lane: { ruleShards: number; live: boolean }): Promise<Result[][]> {
    const laneName = lane.live ? 'live' : 'bulk';
    let t = performance.now();
    const stage = (name: string) => {
      const now = performance.now();
      this.d.metrics.ingestStageSeconds.inc({ stage: name, lane: laneName }, (now - t) / 1000);
      t = now;
    };
    const mapFor = await this.d.mapper.forGateways(batches.map((b) => b.gatewayId));
    stage('mapping');
    const filed: Filed[] = [];
    const quarantined: { reading: Reading; reason: string }[] = [];
    const results = batches.map((b) => {
      const out: Result[] = [];
      const map = mapFor(b.gatewayId);
      for (const r of b.readings) {
        const m = map(r);
        if (m.ok) filed.push({ reading: r, patientId: m.patientId, gatewayId: b.gatewayId, results: out });
        else {
          quarantined.push({ reading: r, reason: m.reason });
          out.push({ id: r.id, outcome: 'quarantined', code: m.reason });
        }
      }
      return out;
    });
    const [ledger] = await Promise.all([
      fileInLedger(this.d.pool, filed, this.d.clock?.now()),
      quarantineAll(this.d.pool, quarantined),
    ]);
    stage('ledger');
    // not stored before, and a reading re-sent within the same group is filed once
    const fresh: Fresh[] = [];
    const seen = new Set<string>();
    for (const f of filed) {
      const entry = ledger.get(f.reading.id);
      if (!entry) throw new Error(`LEDGER_ENTRY_MISSING: reading ${f.reading.id} not in the ledger after filing`);
      if (entry.alreadyStored || seen.has(f.reading.id)) continue;
      seen.add(f.reading.id);
      fresh.push({ ...f, measuredAt: entry.measuredAt });
    }
    const rejected = await this.writeTimeSeries(fresh, lane.live);
    stage('timeseries');
    const stored = rejected.size ? fresh.filter((f) => !rejected.has(f.reading.id)) : fresh;
    // each rule shard marks its own readings stored in the transaction of its episode changes
    await this.evaluateRules(stored, lane.ruleShards);
    stage('rules');
    this.d.metrics.ingestGroups.observe({ lane: laneName }, filed.length + quarantined.length);
    const unreported = new Set(stored.map((f) => f.reading.id));
    for (const { reading, results: out } of filed) {
      // the first copy of a reading in the group is "stored", any other copy "duplicate"
      out.push(
        rejected.has(reading.id)
          ? { id: reading.id, outcome: 'rejected', code: 'TIMESERIES_REJECTED' }
          : { id: reading.id, outcome: unreported.delete(reading.id) ? 'stored' : 'duplicate' },
      );
    }
    return results;
  }

  /**
   * Rules for the group's readings: patients split into `ruleShards` disjoint shards evaluated at
   * once (a patient's measurements stay in one shard, in time order; episode changes are per
   * patient), each shard one onStored call that reads its settings and windowed history once,
   * and whose episode changes and stored marks are one transaction (transaction-scope.ts).
   *
   * A shard whose shared transaction fails (a statement failed, so PostgreSQL aborted the whole
   * transaction, and with it the record of any failed evaluation) is rolled back and evaluated
   * again outside a shared transaction, each evaluation on its own as the engine does for a single
   * batch: an evaluation that fails again is recorded in rule_evaluations_pending and retried by
   * the scheduler; when even that record cannot be written, onStored throws and the group gets no
   * receipt (the gateways re-send). Nothing is skipped silently.
   */
  private async evaluateRules(stored: Fresh[], ruleShards: number): Promise<void> {
    const shards: FiledReading[][] = [];
    const shardOf = new Map<string, number>();
    const receivedAt = this.d.clock?.now() ?? new Date();
    for (const { reading: r, patientId, measuredAt } of stored) {
      let i = shardOf.get(patientId);
      if (i === undefined) shardOf.set(patientId, (i = shardOf.size % ruleShards));
      (shards[i] ??= []).push({
        readingId: r.id,
        patientId,
        metric: r.metric,
        value: r.value,
        measuredAt,
        timeTrust: timeTrustOf(r),
        deviceAddress: r.device.address,
        receivedAt,
      });
    }
    // each shard's episode changes commit once, under its patients' locks taken in one fixed order
    await Promise.all(
      shards.map(async (x) => {
        try {
          await inSharedTransaction(this.d.pool, async ({ client }) => {
            await lockPatients(
              client,
              x.map((r) => r.patientId),
            );
            await this.d.rules.onStored(x);
            // stored once its rules ran: in the same commit, so a reading is never marked stored
            // without its evaluations (nor evaluated twice after a crash in between)
            await markStored(
              this.d.pool,
              x.map((r) => r.readingId),
            );
          });
        } catch (e) {
          this.d.log.warn(
            { readings: x.length, err: (e as Error).message, code: 'RULE_SHARD_RETRIED' },
            'rule shard transaction failed; evaluating its readings one evaluation at a time',
          );
          await this.d.rules.onStored(x);
          await markStored(
            this.d.pool,
            x.map((r) => r.readingId),
          );
        }
      }),
    );
  }

  /**
   * Writes the group's points; returns the ids InfluxDB refused. A refusal (4xx) of the group's
   * write is narrowed down batch by batch, so one gateway's bad point does not block the others:
   * the refused batch's readings are kept as dead letters (outcome rejected).
   */
  private async writeTimeSeries(fresh: Fresh[], live: boolean): Promise<Set<string>> {
    try {
      await this.d.timeseries.write(fresh.map(toStoredPoint), { live });
      return new Set();
    } catch (e) {
      if (!(e instanceof TimeSeriesWriteError && e.code === 'INFLUX_REJECTED'))
        throw Object.assign(e as Error, { store: 'influxdb' });
    }
    const rejected = new Set<string>();
    for (const own of new Set(fresh.map((f) => f.results))) {
      const batch = fresh.filter((f) => f.results === own);
      try {
        await this.d.timeseries.write(batch.map(toStoredPoint), { live });
      } catch (e) {
        if (!(e instanceof TimeSeriesWriteError && e.code === 'INFLUX_REJECTED'))
          throw Object.assign(e as Error, { store: 'influxdb' });
        // InfluxDB answered and refused the points (4xx): retrying cannot help, so they are kept
        // as dead letters (outcome rejected) instead of blocking the gateway's stream for ever
        for (const { reading, gatewayId } of batch) {
          rejected.add(reading.id);
          await this.deadLetter(
            gatewayId,
            topicFor(gatewayId, 'readings'),
            'TIMESERIES_REJECTED',
            e.message,
            JSON.stringify(reading),
          );
        }
      }
    }
    return rejected;
  }

  private async deadLetter(
    gatewayId: string,
    topic: string,
    code: IngestErrorCode,
    reason: string,
    payload: string,
  ): Promise<void> {
    this.d.metrics.payloadsRejected.inc({ code });
    // the reason names fields, never values: no personal data in logs
    this.d.log.warn({ gatewayId, code, reason: reason.slice(0, 300) }, 'payload rejected');
    await this.d.pool.query(
      'INSERT INTO dead_letters (gateway_id, topic, code, reason, payload) VALUES ($1, $2, $3, $4, $5)',
      [gatewayId, topic, code, reason.slice(0, 2000), payload.slice(0, 64 * 1024)],
    );
  }
}
