import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readingId, type ReadingInput, type Receipt } from '../../contract';
import { createGateway, createPatient, type Program } from '../../hub/admin/provisioning';
import { EpisodeStore } from '../../hub/alerts/episode-store';
import { IngestService } from '../../hub/ingest/ingest-service';
import { PatientMapper } from '../../hub/ingest/patient-mapping';
import { createHubMetrics } from '../../hub/observability/metrics';
import { RuleEngine } from '../../hub/rules/engine';
import { TimeSeriesStore, type StoredPoint } from '../../hub/storage/influx/timeseries';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/** InfluxDB that can be made unreachable: every write fails as a refused connection would. */
class FlakyTimeSeries extends TimeSeriesStore {
  down = false;
  override write(points: readonly StoredPoint[], opts: { live?: boolean } = {}): Promise<void> {
    if (this.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8086'));
    return super.write(points, opts);
  }
}

const THREE_GATEWAYS = 3;

/**
 * The group commit files many gateways' batches together; it must keep every guarantee of filing
 * one batch (docs/ingest.md): a receipt only after the readings are stored and their rules
 * evaluated or recorded for retry, a re-sent reading stored exactly once, and a failed rule
 * evaluation never lost.
 */
describe('ingest group commit guarantees', () => {
  let db: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let ts: FlakyTimeSeries;
  /** lock_timeout 300 ms: a locked table fails a statement quickly instead of waiting for ever */
  let pool: pg.Pool;
  let engine: RuleEngine;
  let ingest: IngestService;
  const receipts: { gatewayId: string; receipt: Receipt }[] = [];
  let seq = 0;

  beforeAll(async () => {
    db = await createTestPostgres('vigil_group');
    influx = await createTestInflux('vigil_group');
    ts = new FlakyTimeSeries(influx.url, influx.database, {
      retry: { initialDelayMs: 10, maxDelayMs: 50, giveUpAfterMs: 200 },
    });
    await ts.ensureDatabase();
    pool = new pg.Pool({ connectionString: `${db.url}?options=-c%20lock_timeout%3D300`, max: 8 });
    // dropping the database at the end terminates a connection still closing (57P01): not a failure
    pool.on('error', () => {});
    const metrics = createHubMetrics();
    const log = pino({ level: 'silent' });
    engine = new RuleEngine(new EpisodeStore(pool), metrics, log, { pool });
    ingest = new IngestService({
      pool,
      timeseries: ts,
      mapper: new PatientMapper(pool),
      rules: engine,
      metrics,
      log,
      maxPayloadBytes: 1 << 20,
      publishReceipt: (gatewayId, receipt) => {
        receipts.push({ gatewayId, receipt });
        return Promise.resolve();
      },
    });
  });
  afterAll(async () => {
    await ts.close();
    await pool.end();
    await db.drop();
    await influx.drop();
  });

  async function enroll(tag: string, program: Program): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < THREE_GATEWAYS; i++) {
      await createPatient(db.pool, { id: `P-${tag}-${i}`, programId: program, displayName: `Patient ${i}` }, 'test');
      await createGateway(db.pool, { id: `gw-${tag}-${i}`, patientId: `P-${tag}-${i}` }, 'test');
      ids.push(`gw-${tag}-${i}`);
    }
    return ids;
  }

  const UNITS = { steps: '{steps}', body_temperature: 'Cel', body_weight: 'kg' } as const;

  function reading(gatewayId: string, metric: keyof typeof UNITS, value: number, at: Date): ReadingInput {
    const device = { address: 'C0:00:00:00:00:07', driver: 'sim-device' };
    return {
      id: readingId({ device, metric, captureKey: `${gatewayId}:${seq++}` }),
      gatewayId,
      device,
      metric,
      value,
      unit: UNITS[metric],
      measuredAt: at.toISOString(),
      timeTrust: 'device_synced',
      flags: [],
    };
  }

  const payload = (gatewayId: string, batchId: string, readings: ReadingInput[]): Buffer =>
    Buffer.from(JSON.stringify({ v: 1, gatewayId, batchId, sentAt: new Date().toISOString(), readings }));

  /** the gateways' batches handed to ingest at once, as the broker delivers them: one group */
  const sendAll = (batches: { gatewayId: string; batchId: string; readings: ReadingInput[] }[]) =>
    Promise.allSettled(
      batches.map((b) =>
        ingest.handleReadings(
          b.gatewayId,
          `vigil/v1/gw/${b.gatewayId}/readings`,
          payload(b.gatewayId, b.batchId, b.readings),
        ),
      ),
    );

  const receiptsFor = (batchIds: string[]) => receipts.filter((r) => batchIds.includes(r.receipt.batchId));

  async function influxCount(metric: string, gatewayIds: string[]): Promise<number> {
    const rows = await ts.influx.query<{ count: number }>(
      `SELECT count(value) FROM ${metric} WHERE ${gatewayIds.map((g) => `"gateway" = '${g}'`).join(' OR ')}`,
    );
    return rows[0]?.count ?? 0;
  }

  it('InfluxDB failing after the ledger insert: no receipt; the re-send is stored exactly once', async () => {
    const gateways = await enroll('crash', 'cardiovascular_prevention');
    const at = Date.now() - 3600_000;
    const batches = gateways.map((g) => ({
      gatewayId: g,
      batchId: `${g}-b1`,
      readings: Array.from({ length: 20 }, (_, i) => reading(g, 'steps', 100 + i, new Date(at + i * 60_000))),
    }));
    const ids = batches.flatMap((b) => b.readings.map((r) => r.id));

    ts.down = true;
    const first = await sendAll(batches);
    ts.down = false;
    expect(first.map((r) => r.status)).toEqual(gateways.map(() => 'rejected'));
    expect(receiptsFor(batches.map((b) => b.batchId))).toEqual([]);
    // a reading is in the ledger only once stored: the failed group left nothing there, and a
    // re-send files it afresh
    const ledger = await db.pool.query<{ n: string; stored: string }>(
      'SELECT count(*) n, count(stored_at) stored FROM reading_ledger WHERE reading_id = ANY($1::text[])',
      [ids],
    );
    expect(ledger.rows[0]).toEqual({ n: '0', stored: '0' });
    expect(await influxCount('steps', gateways)).toBe(0);

    const second = await sendAll(batches);
    expect(second.map((r) => r.status)).toEqual(gateways.map(() => 'fulfilled'));
    const outcomes = receiptsFor(batches.map((b) => b.batchId)).flatMap((r) => r.receipt.results.map((x) => x.outcome));
    expect(outcomes).toEqual(ids.map(() => 'stored'));
    expect(await influxCount('steps', gateways)).toBe(ids.length);

    // a third copy (a receipt lost on the way back) is a duplicate, stored nowhere again
    await sendAll(batches.map((b) => ({ ...b, batchId: `${b.batchId}-again` })));
    const again = receiptsFor(batches.map((b) => `${b.batchId}-again`)).flatMap((r) =>
      r.receipt.results.map((x) => x.outcome),
    );
    expect(again).toEqual(ids.map(() => 'duplicate'));
    const after = await db.pool.query<{ n: string; stored: string }>(
      'SELECT count(*) n, count(stored_at) stored FROM reading_ledger WHERE reading_id = ANY($1::text[])',
      [ids],
    );
    expect(after.rows[0]).toEqual({ n: String(ids.length), stored: String(ids.length) });
    expect(await influxCount('steps', gateways)).toBe(ids.length);
  });

  it('points InfluxDB refuses: that batch is rejected and kept as a dead letter, the rest of the group stored', async () => {
    const gateways = await enroll('refused', 'cardiovascular_prevention');
    const at = Date.now() - 3600_000;
    // a field type conflict, as a point written by another tool would cause: InfluxDB 1.x keeps
    // one type per field and shard, and answers 400 to a float "value" of body_weight here
    await ts.influx.writePoints([
      {
        measurement: 'body_weight',
        tags: { patient: 'other-tool' },
        fields: { value: 'seventy' },
        timestamp: new Date(at),
      },
    ]);
    const [bad = '', ...good] = gateways;
    const batches = [
      {
        gatewayId: bad,
        batchId: `${bad}-r1`,
        readings: [0, 1].map((i) => reading(bad, 'body_weight', 70 + i, new Date(at + i * 60_000))),
      },
      ...good.map((g) => ({
        gatewayId: g,
        batchId: `${g}-r1`,
        readings: [0, 1, 2].map((i) => reading(g, 'steps', 500 + i, new Date(at + i * 60_000))),
      })),
    ];
    const res = await sendAll(batches);
    expect(res.map((r) => r.status)).toEqual(gateways.map(() => 'fulfilled'));
    const byGateway = new Map(receiptsFor(batches.map((b) => b.batchId)).map((r) => [r.gatewayId, r.receipt.results]));
    expect(byGateway.get(bad)).toEqual(
      batches[0]?.readings.map((r) => ({ id: r.id, outcome: 'rejected', code: 'TIMESERIES_REJECTED' })),
    );
    for (const g of good) expect(byGateway.get(g)?.map((x) => x.outcome)).toEqual(['stored', 'stored', 'stored']);
    const ledger = await db.pool.query<{ gateway_id: string; n: string; stored: string }>(
      `SELECT gateway_id, count(*) n, count(stored_at) stored FROM reading_ledger WHERE gateway_id LIKE 'gw-refused-%'
        GROUP BY gateway_id ORDER BY gateway_id`,
    );
    // the refused readings are not in the ledger (a reading is there only once stored)
    expect(ledger.rows).toEqual(good.map((g) => ({ gateway_id: g, n: '3', stored: '3' })));
    const dead = await db.pool.query<{ code: string; payload: string }>(
      `SELECT code, payload FROM dead_letters WHERE gateway_id = $1 ORDER BY id`,
      [bad],
    );
    expect(dead.rows.map((d) => [d.code, (JSON.parse(d.payload) as { id: string }).id])).toEqual(
      batches[0]?.readings.map((r) => ['TIMESERIES_REJECTED', r.id]),
    );
    expect(await influxCount('steps', good)).toBe(6);
  });

  it('a failed evaluation in a group is recorded for retry, receipted, and opens its episode on retry', async () => {
    const gateways = await enroll('fever', 'oral_chemotherapy');
    const batches = gateways.map((g) => ({
      gatewayId: g,
      batchId: `${g}-f1`,
      readings: [reading(g, 'body_temperature', 38.9, new Date())],
    }));
    const locker = await db.pool.connect();
    try {
      // episode writes blocked (reads allowed), as when PostgreSQL stalls: the shard's shared
      // transaction fails, and each evaluation fails again on its own
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE alert_episodes IN EXCLUSIVE MODE');
      const res = await sendAll(batches);
      expect(res.map((r) => r.status)).toEqual(gateways.map(() => 'fulfilled'));
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    const outcomes = receiptsFor(batches.map((b) => b.batchId)).flatMap((r) => r.receipt.results.map((x) => x.outcome));
    expect(outcomes).toEqual(gateways.map(() => 'stored'));
    const pending = await db.pool.query<{ patient_id: string; rule_id: string }>(
      `SELECT patient_id, rule_id FROM rule_evaluations_pending WHERE patient_id LIKE 'P-fever-%' ORDER BY patient_id`,
    );
    expect(pending.rows).toEqual(gateways.map((_, i) => ({ patient_id: `P-fever-${i}`, rule_id: 'chemo-fever' })));
    expect(await episodes('P-fever-%')).toEqual([]);

    await engine.tick();
    expect(await episodes('P-fever-%')).toEqual(gateways.map((_, i) => [`P-fever-${i}`, 'chemo-fever', 'red']));
    expect(
      (await db.pool.query(`SELECT 1 FROM rule_evaluations_pending WHERE patient_id LIKE 'P-fever-%'`)).rowCount,
    ).toBe(0);
  });

  it('a failed evaluation that cannot be recorded: no receipt; the re-send evaluates it', async () => {
    const gateways = await enroll('held', 'oral_chemotherapy');
    const batches = gateways.map((g) => ({
      gatewayId: g,
      batchId: `${g}-h1`,
      readings: [reading(g, 'body_temperature', 39.2, new Date())],
    }));
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE alert_episodes, rule_evaluations_pending IN EXCLUSIVE MODE');
      const res = await sendAll(batches);
      expect(res.map((r) => r.status)).toEqual(gateways.map(() => 'rejected'));
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect(receiptsFor(batches.map((b) => b.batchId))).toEqual([]);
    expect(await episodes('P-held-%')).toEqual([]);

    const res = await sendAll(batches);
    expect(res.map((r) => r.status)).toEqual(gateways.map(() => 'fulfilled'));
    const outcomes = receiptsFor(batches.map((b) => b.batchId)).flatMap((r) => r.receipt.results.map((x) => x.outcome));
    expect(outcomes).toEqual(gateways.map(() => 'stored'));
    expect(await episodes('P-held-%')).toEqual(gateways.map((_, i) => [`P-held-${i}`, 'chemo-fever', 'red']));
    expect(await influxCount('body_temperature', gateways)).toBe(gateways.length);
  });

  async function episodes(like: string): Promise<[string, string, string][]> {
    const { rows } = await db.pool.query<{ patient_id: string; rule_id: string; severity: string }>(
      `SELECT patient_id, rule_id, severity FROM alert_episodes WHERE patient_id LIKE $1 ORDER BY patient_id, rule_id`,
      [like],
    );
    return rows.map((r) => [r.patient_id, r.rule_id, r.severity]);
  }
});
