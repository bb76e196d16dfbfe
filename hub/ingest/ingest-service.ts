import type { Logger } from 'pino';
import type pg from 'pg';
import { readingBatchSchema, readingSchema, topicFor, type Reading, type Receipt } from '../../contract';
import type { HubMetrics } from '../observability/metrics';
import type { RuleEngine } from '../rules/engine';
import type { TimeSeriesStore } from '../storage/influx/timeseries';
import { TimeSeriesWriteError } from '../storage/influx/write-batcher';
import { fileInLedger, markStored } from './ledger';
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
}

type Result = Receipt['results'][number];

/**
 * Files one reading batch: validate each reading, map it to a patient (or quarantine it), file it
 * in the ledger, write the time series, evaluate rules, and only then send the receipt.
 * Throws when a store is unavailable: no receipt goes out, so the gateway keeps and re-sends.
 */
export class IngestService {
  constructor(private readonly d: IngestDeps) {}

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

  private async file(gatewayId: string, readings: Reading[]): Promise<Result[]> {
    if (readings.length === 0) return [];
    const map = await this.d.mapper.forGateway(gatewayId);
    const filed: { reading: Reading; patientId: string }[] = [];
    const results: Result[] = [];
    for (const r of readings) {
      const m = map(r);
      if (m.ok) filed.push({ reading: r, patientId: m.patientId });
      else {
        await this.quarantine(r, m.reason);
        results.push({ id: r.id, outcome: 'quarantined', code: m.reason });
      }
    }
    const ledger = await fileInLedger(this.d.pool, filed);
    const fresh = filed.flatMap((f) => {
      const entry = ledger.get(f.reading.id);
      if (!entry) throw new Error(`reading ${f.reading.id} missing from the ledger's answer`);
      return entry.alreadyStored ? [] : [{ ...f, measuredAt: entry.measuredAt }];
    });
    try {
      await this.d.timeseries.write(
        fresh.map(({ reading: r, patientId, measuredAt }) => ({
          readingId: r.id,
          patientId,
          gatewayId,
          deviceAddress: r.device.address,
          driver: r.device.driver,
          metric: r.metric,
          value: r.value,
          measuredAt,
        })),
      );
    } catch (e) {
      // InfluxDB answered and refused the points (4xx): retrying cannot help, so they are kept
      // as dead letters (outcome rejected) instead of blocking the gateway's stream for ever
      if (e instanceof TimeSeriesWriteError && e.code === 'INFLUX_REJECTED') {
        for (const { reading } of fresh) {
          await this.deadLetter(
            gatewayId,
            topicFor(gatewayId, 'readings'),
            'TIMESERIES_REJECTED',
            e.message,
            JSON.stringify(reading),
          );
        }
        const rejected = new Set(fresh.map((f) => f.reading.id));
        for (const { reading } of filed) {
          results.push(
            rejected.has(reading.id)
              ? { id: reading.id, outcome: 'rejected', code: 'TIMESERIES_REJECTED' }
              : { id: reading.id, outcome: 'duplicate' },
          );
        }
        return results;
      }
      throw Object.assign(e as Error, { store: 'influxdb' });
    }
    await this.d.rules.onStored(
      fresh.map(({ reading: r, patientId, measuredAt }) => ({
        readingId: r.id,
        patientId,
        metric: r.metric,
        value: r.value,
        measuredAt,
      })),
    );
    await markStored(
      this.d.pool,
      fresh.map((f) => f.reading.id),
    );
    const freshIds = new Set(fresh.map((f) => f.reading.id));
    for (const { reading } of filed)
      results.push({ id: reading.id, outcome: freshIds.has(reading.id) ? 'stored' : 'duplicate' });
    return results;
  }

  private async quarantine(r: Reading, reason: string): Promise<void> {
    await this.d.pool.query(
      `INSERT INTO quarantined_readings (reading_id, gateway_id, device_address, driver, user_index, metric, reading, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (reading_id) DO NOTHING`,
      [r.id, r.gatewayId, r.device.address, r.device.driver, r.userIndex ?? null, r.metric, JSON.stringify(r), reason],
    );
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
