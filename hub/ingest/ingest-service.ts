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
import { LivePriority } from './live-priority';
import { GroupCommit } from './group-commit';
import { fileInLedger, markStored, quarantineAll, type LedgerEntry } from './ledger';
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

/** a reading InfluxDB refused (4xx), kept as a dead letter */
interface Refusal {
  gatewayId: string;
  reading: Reading;
  message: string;
}

interface ShardOutcome {
  /** ids stored by this shard (first copies) */
  stored: string[];
  refused: Map<string, Refusal>;
}

/** InfluxDB refused some of a shard's points: its transaction rolls back, and it is filed again without them. */
class PointsRefused extends Error {
  constructor(readonly refused: Map<string, Refusal>) {
    super('INFLUX_REJECTED: points refused; filing the shard again without them');
  }
}

/** not stored before, and a reading re-sent within the group filed once */
function freshOf(items: readonly Filed[], ledger: ReadonlyMap<string, LedgerEntry>): Fresh[] {
  const fresh: Fresh[] = [];
  const seen = new Set<string>();
  for (const f of items) {
    const entry = ledger.get(f.reading.id);
    if (!entry) throw new Error(`LEDGER_ENTRY_MISSING: reading ${f.reading.id} not in the ledger after filing`);
    if (entry.alreadyStored || seen.has(f.reading.id)) continue;
    seen.add(f.reading.id);
    fresh.push({ ...f, measuredAt: entry.measuredAt });
  }
  return fresh;
}

function filedReadings(fresh: readonly Fresh[], receivedAt: Date | undefined): FiledReading[] {
  const at = receivedAt ?? new Date();
  return fresh.map(({ reading: r, patientId, measuredAt }) => ({
    readingId: r.id,
    patientId,
    metric: r.metric,
    value: r.value,
    measuredAt,
    timeTrust: timeTrustOf(r),
    deviceAddress: r.device.address,
    receivedAt: at,
  }));
}

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
  /** bulk statements wait while a live group files (live-priority.ts) */
  private readonly priority = new LivePriority();

  constructor(private readonly d: IngestDeps) {
    // the rules' reads inside a shard's transaction use its connection (transaction-scope.ts)
    shareAmbientTransaction(d.pool);
    this.bulk = new GroupCommit(
      (batches) => this.fileGroup(batches, { ruleShards: d.ruleShards ?? ruleShardsFor(10), live: false }),
      (b) => b.readings.length,
      { maxWeight: d.groupMaxReadings ?? GROUP_MAX_READINGS, concurrency: d.groupConcurrency ?? GROUP_CONCURRENCY },
    );
    this.live = new GroupCommit(
      async (batches) => {
        this.priority.enter();
        try {
          return await this.fileGroup(batches, { ruleShards: 1, live: true });
        } finally {
          this.priority.leave();
        }
      },
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
   * whatever its size: mapping (2 queries), quarantine (1), then per rule shard (patients split
   * into `ruleShards` disjoint shards, filed at once) one transaction: the ledger insert-and-dedup
   * (1), the time-series write, the rules (settings and windowed history read once).
   */
  private async fileGroup(batches: FilingBatch[], lane: { ruleShards: number; live: boolean }): Promise<Result[][]> {
    const laneName = lane.live ? 'live' : 'bulk';
    const started = performance.now();
    const mapFor = await this.d.mapper.forGateways(batches.map((b) => b.gatewayId));
    this.d.metrics.ingestStageSeconds.inc({ stage: 'mapping', lane: laneName }, (performance.now() - started) / 1000);
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
    // a patient's readings stay in one shard (its measurements in time order, its episodes)
    const shards: Filed[][] = [];
    const shardOf = new Map<string, number>();
    for (const f of filed) {
      let i = shardOf.get(f.patientId);
      if (i === undefined) shardOf.set(f.patientId, (i = shardOf.size % lane.ruleShards));
      (shards[i] ??= []).push(f);
    }
    const [outcomes] = await Promise.all([
      Promise.all(shards.map((x) => this.fileShard(x, lane.live, shards.length))),
      quarantineAll(this.d.pool, quarantined),
    ]);
    this.d.metrics.ingestGroups.observe({ lane: laneName }, filed.length + quarantined.length);
    const stored = new Set<string>();
    const refused = new Map<string, Refusal>();
    for (const o of outcomes) {
      for (const id of o.stored) stored.add(id);
      for (const [id, why] of o.refused) refused.set(id, why);
    }
    // outside the shards' transactions: a refusal is kept even though they rolled back
    for (const [, why] of refused)
      await this.deadLetter(
        why.gatewayId,
        topicFor(why.gatewayId, 'readings'),
        'TIMESERIES_REJECTED',
        why.message,
        JSON.stringify(why.reading),
      );
    for (const { reading, results: out } of filed) {
      // the first copy of a reading in the group is "stored", any other copy "duplicate"
      out.push(
        refused.has(reading.id)
          ? { id: reading.id, outcome: 'rejected', code: 'TIMESERIES_REJECTED' }
          : { id: reading.id, outcome: stored.delete(reading.id) ? 'stored' : 'duplicate' },
      );
    }
    return results;
  }

  /**
   * One rule shard's readings, filed in one transaction: the ledger rows are added already marked
   * stored, the points are written to InfluxDB while the rules run, and the transaction commits
   * only once both are done. A reading is thus in the ledger only once its point is written and
   * its rules evaluated: a hub that dies half-way leaves no trace of it in PostgreSQL, and the
   * gateway's re-send files it afresh (the InfluxDB point, if written, is overwritten: same
   * measurement, tags and time). No UPDATE marks the rows stored afterwards (bench/README.md,
   * session 13: 18 us a reading of PostgreSQL time).
   *
   * The patients' locks are taken after the ledger insert, for the rules only: a second group with
   * the same patients files its ledger rows and points meanwhile. Rows another transaction is
   * adding with the same ids (a re-send filed by another group or hub) make the insert wait for
   * its outcome; every such wait is a PostgreSQL lock, so a cycle is a deadlock PostgreSQL breaks,
   * and the group that loses it is filed again.
   *
   * - InfluxDB refuses points (4xx): the transaction rolls back and the shard is filed again
   *   without the refused batches, which become dead letters (outcome rejected).
   * - InfluxDB or PostgreSQL unavailable while filing: the error goes up, the group gets no receipt.
   * - The rules' shared transaction fails (a statement failed, so PostgreSQL aborted it, taking
   *   any record of a failed evaluation with it): the ledger rows are added again unmarked, the
   *   readings evaluated one evaluation at a time as for a single batch (an evaluation failing
   *   again is recorded in rule_evaluations_pending for the scheduler; when even that cannot be
   *   written onStored throws and the group gets no receipt), then marked stored.
   */
  private async fileShard(items: Filed[], live: boolean, shards: number): Promise<ShardOutcome> {
    const laneName = live ? 'live' : 'bulk';
    const refused = new Map<string, Refusal>();
    const receivedAt = this.d.clock?.now();
    // a group's stage seconds are its shards' mean: they run side by side
    const stage = (name: string, since: number) =>
      this.d.metrics.ingestStageSeconds.inc(
        { stage: name, lane: laneName },
        (performance.now() - since) / 1000 / shards,
      );
    for (;;) {
      const attempt = refused.size ? items.filter((f) => !refused.has(f.reading.id)) : items;
      // where the transaction was when it failed (set inside its callback)
      const at: { phase: 'store' | 'rules' } = { phase: 'store' };
      let written: Promise<Map<string, Refusal>> | undefined;
      let fresh: Fresh[] = [];
      try {
        const stored = await inSharedTransaction(
          this.d.pool,
          async ({ client }) => {
            const t0 = performance.now();
            const ledger = await fileInLedger(this.d.pool, attempt, receivedAt, { stored: true });
            stage('ledger', t0);
            fresh = freshOf(attempt, ledger);
            const t1 = performance.now();
            const write = this.writeTimeSeries(fresh, live).finally(() => stage('timeseries', t1));
            written = write;
            // settled below; this only keeps a failure during the rules from going unhandled
            write.catch(() => undefined);
            at.phase = 'rules';
            const rows = filedReadings(fresh, receivedAt);
            await lockPatients(
              client,
              rows.map((r) => r.patientId),
            );
            await this.d.rules.onStored(rows);
            stage('rules', t1);
            at.phase = 'store';
            const rejected = await write;
            if (rejected.size) throw new PointsRefused(rejected);
            // rows an earlier copy left unmarked (it died before it was stored, or came through
            // quarantine assignment) are marked in this transaction too
            await markStored(
              this.d.pool,
              fresh.filter((f) => !ledger.get(f.reading.id)?.inserted).map((f) => f.reading.id),
            );
            return fresh.map((f) => f.reading.id);
          },
          // a backlog's statements give way to a live group's (live-priority.ts)
          live ? {} : { hold: () => this.priority.hold() },
        );
        return { stored, refused };
      } catch (e) {
        if (e instanceof PointsRefused) {
          for (const [id, why] of e.refused) refused.set(id, why);
          continue;
        }
        if (at.phase === 'store' || !written) throw e;
        // the rules failed: the points' fate decides first (a refusal files the shard again)
        const rejected = await written;
        if (rejected.size) {
          for (const [id, why] of rejected) refused.set(id, why);
          continue;
        }
        this.d.log.warn(
          { readings: fresh.length, err: (e as Error).message, code: 'RULE_SHARD_RETRIED' },
          'rule shard transaction failed; evaluating its readings one evaluation at a time',
        );
        const ledger = await fileInLedger(this.d.pool, attempt, receivedAt);
        const again = freshOf(attempt, ledger);
        await this.d.rules.onStored(filedReadings(again, receivedAt));
        await markStored(
          this.d.pool,
          again.map((f) => f.reading.id),
        );
        return { stored: again.map((f) => f.reading.id), refused };
      }
    }
  }

  /**
   * Writes the points, one write per gateway batch; returns the readings InfluxDB refused, with
   * why. The writer sends the batches as one request, and when InfluxDB refuses it (4xx) writes
   * each batch again on its own (write-batcher.ts): only the batch with the bad point is refused,
   * the others' are stored. Unavailability fails the whole write.
   */
  private async writeTimeSeries(fresh: Fresh[], live: boolean): Promise<Map<string, Refusal>> {
    const batches = new Map<Result[], Fresh[]>();
    for (const f of fresh) {
      const batch = batches.get(f.results);
      if (batch) batch.push(f);
      else batches.set(f.results, [f]);
    }
    const own = [...batches.values()];
    const outcomes = await Promise.allSettled(own.map((b) => this.d.timeseries.write(b.map(toStoredPoint), { live })));
    const refused = new Map<string, Refusal>();
    let unavailable: Error | undefined;
    own.forEach((batch, i) => {
      const o = outcomes[i];
      if (o?.status !== 'rejected') return;
      const e = o.reason as Error;
      if (!(e instanceof TimeSeriesWriteError && e.code === 'INFLUX_REJECTED')) unavailable ??= e;
      else
        for (const { reading, gatewayId } of batch) refused.set(reading.id, { gatewayId, reading, message: e.message });
    });
    if (unavailable) throw Object.assign(unavailable, { store: 'influxdb' });
    return refused;
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
