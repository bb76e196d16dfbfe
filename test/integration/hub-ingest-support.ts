/**
 * Simulated gateways for the ingest tests and bench/multi-hub.ts: plain mqtt.js clients that
 * speak wire contract v1 (contract/messages.ts readingBatchSchema) like the real gateway does:
 * one batch in flight, kept and re-sent until the hub's receipt arrives.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type pg from 'pg';
import { InfluxDB } from 'influx';
import { readingId, receiptSchema, topicFor, type ReadingBatch, type ReadingInput, type Receipt } from '../../contract';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { until } from '../support/wait';

/** receipts and PUBACKs already on their way when InfluxDB stopped are not counted as 'while down' */
const IN_FLIGHT_GRACE_MS = 1500;
/** Date.now() has millisecond resolution, PostgreSQL's now() microseconds */
const CLOCK_RESOLUTION_MS = 1;

export const runTag = (): string => `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

export interface SimGatewaySpec {
  gatewayId: string;
  patientId: string;
  password?: string;
}

/** Enrolls one patient and one gateway per spec (the gateway's own box patient). */
export async function enrollGateways(pool: pg.Pool, tag: string, n: number): Promise<SimGatewaySpec[]> {
  const specs: SimGatewaySpec[] = [];
  for (let i = 0; i < n; i++) {
    const patientId = `p-${tag}-${i}`;
    const gatewayId = `gw-${tag}-${i}`;
    await createPatient(
      pool,
      { id: patientId, programId: 'cardiovascular_prevention', displayName: `Test ${i}` },
      'test',
    );
    const { password } = await createGateway(pool, { id: gatewayId, patientId }, 'test');
    specs.push({ gatewayId, patientId, password });
  }
  return specs;
}

/** `count` step readings of a gateway, one minute apart, integer-valued (stored as float). */
export function makeReadings(gatewayId: string, count: number, start = Date.UTC(2026, 0, 5, 8)): ReadingInput[] {
  const device = { address: 'C0:11:22:33:44:55', driver: 'sim-pedometer' };
  return Array.from({ length: count }, (_, i) => ({
    // every simulated gateway has the same pedometer address: the capture key keeps ids unique
    id: readingId({ device, metric: 'steps', captureKey: `${gatewayId}:${i}` }),
    gatewayId,
    device,
    metric: 'steps',
    value: 1000 + i,
    unit: '{steps}',
    measuredAt: new Date(start + i * 60_000).toISOString(),
    sequence: i,
    flags: [],
  }));
}

export interface SimGatewayResult {
  gatewayId: string;
  /** reading id -> outcome of the receipt that covered it */
  outcomes: Map<string, string>;
  /** batches sent again because no receipt came in time */
  resends: number;
  /** receipts naming readings that the gateway did not send or that were not stored durably */
  receipts: Receipt[];
}

export class SimGateway {
  client?: MqttClient;
  readonly outcomes = new Map<string, string>();
  readonly receipts: Receipt[] = [];
  resends = 0;
  /** the broker's PUBACKs of our reading batches: when (monotonic and wall clock) and for which readings */
  readonly pubacks: { at: number; wallMs: number; readingIds: string[] }[] = [];
  private waiters = new Map<string, () => void>();

  constructor(
    readonly spec: SimGatewaySpec,
    private readonly url: string,
    private readonly receiptTimeoutMs = 10_000,
  ) {}

  async connect(): Promise<void> {
    const client = mqtt.connect(this.url, {
      clientId: this.spec.gatewayId,
      ...(this.spec.password ? { username: this.spec.gatewayId, password: this.spec.password } : {}),
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.on('message', (_topic, payload) => {
      const r = receiptSchema.safeParse(JSON.parse(payload.toString('utf8')));
      if (!r.success) return;
      this.receipts.push(r.data);
      for (const res of r.data.results) this.outcomes.set(res.id, res.outcome);
      this.waiters.get(r.data.batchId)?.();
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(topicFor(this.spec.gatewayId, 'receipts'), { qos: 1 });
  }

  /** Sends the readings in batches of `batchSize`, each re-sent until its receipt arrives. */
  async sendAll(readings: ReadingInput[], batchSize: number, deadline = Date.now() + 600_000): Promise<void> {
    for (let i = 0; i < readings.length; i += batchSize) {
      const batch: ReadingBatch = {
        v: 1,
        gatewayId: this.spec.gatewayId,
        batchId: `${this.spec.gatewayId}-${i / batchSize}`,
        sentAt: new Date().toISOString(),
        readings: readings.slice(i, i + batchSize),
      };
      await this.sendUntilReceipted(batch, deadline);
    }
  }

  async sendUntilReceipted(batch: ReadingBatch, deadline: number): Promise<void> {
    const client = this.client!;
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`no receipt for ${batch.batchId} before the deadline`);
      if (attempt > 0) this.resends++;
      const got = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), this.receiptTimeoutMs);
        this.waiters.set(batch.batchId, () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      // not awaited: the embedded broker PUBACKs only once the batch is stored
      void client.publishAsync(topicFor(this.spec.gatewayId, 'readings'), JSON.stringify(batch), { qos: 1 }).then(
        () =>
          this.pubacks.push({
            at: performance.now(),
            wallMs: Date.now(),
            readingIds: (batch.readings as ReadingInput[]).map((r) => r.id),
          }),
        () => {},
      );
      if (await got) {
        this.waiters.delete(batch.batchId);
        return;
      }
    }
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
  }
}

/** Runs `fn` over items with at most `limit` at a time. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Points of a measurement in the raw retention policy, optionally per gateway tag prefix. */
export async function countPoints(influxUrl: string, database: string, measurement = 'steps'): Promise<number> {
  const u = new URL(influxUrl);
  const influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database });
  const rows = await influx.query<{ count: number }>(
    `SELECT count("value") AS "count" FROM "vigil_raw"."${measurement}"`,
  );
  return rows[0]?.count ?? 0;
}

export interface OutageOptions {
  /** port and data directory of the influxd this scenario starts and stops (never the shared one) */
  port: number;
  dataDir: string;
  outageMs: number;
  gateways: number;
  perGateway: number;
  batch: number;
  /** the hub's InfluxDB writer gives up after this long; the ingest then holds and re-files */
  giveUpAfterMs?: number;
  /** simulated gateways re-send an unreceipted batch after this long (real gateway: 30 s) */
  receiptTimeoutMs?: number;
  /** hub log level (default silent) and progress lines on stderr */
  logLevel?: 'silent' | 'warn' | 'info' | 'debug';
  progress?: boolean;
}

export interface OutageReport {
  total: number;
  storedBefore: number;
  storedWhileDown: number;
  /** gateway publishes PUBACKed by the embedded broker while InfluxDB was down (re-sends of
   *  readings stored before the outage are rightly PUBACKed as duplicates) */
  pubacksWhileDown: number;
  /** PUBACKs that arrived before every reading they acknowledge was stored: must be 0 */
  pubacksBeforeStored: number;
  maxHeld: number;
  retries: number;
  unreceipted: number;
  badOutcomes: number;
  influxPoints: number;
  ledgerRows: number;
  ledgerStored: number;
  /** influxd answering again -> first reading stored */
  firstStoredAfterRestartMs: number;
  /** influxd answering again -> no message held any more */
  heldClearedAfterRestartMs: number;
  /** influxd answering again -> every reading receipted */
  drainedAfterRestartMs: number;
  resends: number;
}

/**
 * Ingest through an embedded-broker hub while its own influxd is SIGTERMed for `outageMs` and
 * restarted; gateways keep sending (and re-sending unreceipted batches) the whole time.
 */
export async function runInfluxOutage(o: OutageOptions): Promise<OutageReport> {
  const { ensureInfluxd } = await import('../../scripts/lib/influxd');
  const { loadHubConfig } = await import('../../hub/config/load');
  const { startHub } = await import('../../hub/main');
  const { createTestPostgres, uniqueName } = await import('../support/stores');
  const startOwn = async () => {
    const h = await ensureInfluxd({ port: o.port, dataDir: o.dataDir });
    if (!h.process) throw new Error(`port ${o.port} answers with an influxd this run did not start; stop it first`);
    return h;
  };
  let influxd = await startOwn();
  const pg = await createTestPostgres('vigil_outage');
  const database = uniqueName('vigil_outage');
  const tag = runTag();
  const hub = await startHub(
    loadHubConfig({
      env: {},
      overrides: {
        instanceId: `outage-${tag}`,
        postgres: { url: pg.url },
        influx: {
          url: influxd.url,
          database,
          retry: { initialDelayMs: 50, maxDelayMs: 500, giveUpAfterMs: o.giveUpAfterMs ?? 2000 },
        },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 },
        http: { port: 0 },
        logLevel: o.logLevel ?? 'silent',
      },
    }),
  );
  try {
    const gws = await enrollGateways(pg.pool, tag, o.gateways);
    const sims = gws.map((g) => new SimGateway(g, hub.mqttUrl, o.receiptTimeoutMs ?? 2000));
    await Promise.all(sims.map((s) => s.connect()));
    const receiptLog: { at: number; stored: number }[] = [];
    for (const s of sims) {
      s.client!.on('message', (_t, payload) => {
        const r = JSON.parse(payload.toString('utf8')) as { results: { outcome: string }[] };
        receiptLog.push({ at: performance.now(), stored: r.results.filter((x) => x.outcome === 'stored').length });
      });
    }
    const progress = o.progress
      ? setInterval(
          () =>
            console.error(
              JSON.stringify({
                receipted: sims.reduce((a, s) => a + s.outcomes.size, 0),
                resends: sims.reduce((a, s) => a + s.resends, 0),
              }),
            ),
          5000,
        )
      : undefined;
    let maxHeld = 0;
    let heldClearedAt = 0;
    let restartedAt = Infinity;
    const sampler = setInterval(() => {
      void hub.metrics.heldMessages.get().then((m) => {
        const held = m.values[0]?.value ?? 0;
        maxHeld = Math.max(maxHeld, held);
        if (held === 0 && performance.now() > restartedAt && !heldClearedAt) heldClearedAt = performance.now();
      });
    }, 50);
    const sending = Promise.all(
      sims.map((s) => s.sendAll(makeReadings(s.spec.gatewayId, o.perGateway), o.batch, Date.now() + 600_000)),
    );

    // the outage starts mid-run: once the first readings are stored
    const storedBefore = await until(
      'the first readings stored',
      async () => {
        const n = await countPoints(influxd.url, database);
        return n > 0 ? n : undefined;
      },
      60_000,
      50,
    );
    await influxd.stop(); // SIGTERM, waits for the process to exit
    const down = performance.now();
    await sleep(o.outageMs);
    influxd = await startOwn();
    restartedAt = performance.now();
    await sending;
    const drained = performance.now();
    clearInterval(sampler);
    clearInterval(progress);
    await Promise.all(sims.map((s) => s.close()));

    const ledger = await pg.pool.query<{ n: string; stored: string }>(
      'SELECT count(*) AS n, count(stored_at) AS stored FROM reading_ledger',
    );
    const storedAt = new Map(
      (
        await pg.pool.query<{ reading_id: string; stored_at: Date | null }>(
          'SELECT reading_id, stored_at FROM reading_ledger',
        )
      ).rows.map((r) => [r.reading_id, r.stored_at?.getTime() ?? Infinity]),
    );
    // "PUBACK means stored": the ledger's stored_at (same machine clock) precedes each PUBACK
    const pubacksBeforeStored = sims
      .flatMap((s) => s.pubacks)
      .filter((p) => p.readingIds.some((id) => (storedAt.get(id) ?? Infinity) > p.wallMs + CLOCK_RESOLUTION_MS)).length;
    const outcomes = sims.flatMap((s) => [...s.outcomes.values()]);
    const firstStored = receiptLog.find((r) => r.at > restartedAt && r.stored > 0)?.at ?? NaN;
    return {
      total: o.gateways * o.perGateway,
      storedBefore,
      // a grace for receipts of writes that succeeded just before influxd exited and were still on
      // their way (on a loaded 2-core CI machine event-loop lag reaches a second)
      storedWhileDown: receiptLog
        .filter((r) => r.at > down + IN_FLIGHT_GRACE_MS && r.at < restartedAt)
        .reduce((a, r) => a + r.stored, 0),
      pubacksWhileDown: sims
        .flatMap((s) => s.pubacks)
        .filter((p) => p.at > down + IN_FLIGHT_GRACE_MS && p.at < restartedAt).length,
      pubacksBeforeStored,
      maxHeld,
      retries: (await hub.metrics.influxRetries.get()).values[0]?.value ?? 0,
      unreceipted: sims.reduce((a, s) => a + (o.perGateway - s.outcomes.size), 0),
      badOutcomes: outcomes.filter((x) => x !== 'stored' && x !== 'duplicate').length,
      influxPoints: await countPoints(influxd.url, database),
      ledgerRows: Number(ledger.rows[0]!.n),
      ledgerStored: Number(ledger.rows[0]!.stored),
      firstStoredAfterRestartMs: Math.round(firstStored - restartedAt),
      heldClearedAfterRestartMs: Math.round((heldClearedAt || drained) - restartedAt),
      drainedAfterRestartMs: Math.round(drained - restartedAt),
      resends: sims.reduce((a, s) => a + s.resends, 0),
    };
  } finally {
    await hub.stop();
    await pg.drop();
    const u = new URL(influxd.url);
    await new InfluxDB({ host: u.hostname, port: Number(u.port) }).dropDatabase(database).catch(() => {});
    await influxd.stop();
  }
}
