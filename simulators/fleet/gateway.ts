import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import {
  MAX_BATCH_READINGS,
  WIRE_VERSION,
  receiptSchema,
  topicFor,
  type Reading,
  type ReadingBatch,
  type ReceiptOutcome,
} from '../../contract';

export interface SimGatewayOptions {
  url: string;
  gatewayId: string;
  password: string;
  readings: readonly Reading[];
  batchSize: number;
  maxInFlightBatches: number;
  /** re-send what has no receipt after this long */
  receiptTimeoutMs: number;
  /** double the receipt timeout for each re-send of the same readings (cap 16x) */
  receiptBackoff: boolean;
  connectTimeoutMs: number;
  keepaliveS: number;
  /** called for each receipt: publish -> receipt latency of the batch, ms */
  onReceipt?(latencyMs: number, results: number): void;
}

export interface SimGatewayStats {
  gatewayId: string;
  total: number;
  receipted: number;
  outcomes: Record<ReceiptOutcome, number>;
  published: number;
  resent: number;
  batches: number;
  connects: number;
  connectedAt?: number;
  /** no CONNACK within connectTimeoutMs of the first attempt (it kept retrying) */
  slowConnect?: boolean;
  doneAt?: number;
  error?: string;
}

interface InFlight {
  ids: string[];
  sentAt: number;
  timer: NodeJS.Timeout;
  /** the broker's PUBACK of this batch arrived */
  acked?: boolean;
}

/**
 * One simulated home gateway speaking wire contract v1 (contract/messages.ts, contract/topics.ts):
 * own credentials and MQTT connection, retained birth/last will on .../status, batches of its
 * backlog at QoS 1 on .../readings, receipts on .../receipts. A reading leaves the backlog only
 * when a receipt names it (any outcome means the hub keeps it); what has no receipt after the
 * timeout is sent again (same reading ids: the hub files it once).
 */
export class SimGateway {
  readonly stats: SimGatewayStats;
  private client?: MqttClient;
  private readonly backlog = new Map<string, Reading>();
  private readonly sends = new Map<string, number>(); // reading id -> times sent
  private readonly inFlightIds = new Set<string>();
  private readonly inFlight = new Map<string, InFlight>();
  /** a publish awaits its PUBACK: the next one waits for it, as gateway/uplink does */
  private publishing = false;
  private seq = 0;
  private finished!: () => void;
  private failed!: (e: Error) => void;
  readonly done: Promise<void>;

  constructor(private readonly o: SimGatewayOptions) {
    if (o.batchSize < 1 || o.batchSize > MAX_BATCH_READINGS)
      throw new Error(`batchSize must be 1..${MAX_BATCH_READINGS}`);
    for (const r of o.readings) this.backlog.set(r.id, r);
    this.stats = {
      gatewayId: o.gatewayId,
      total: this.backlog.size,
      receipted: 0,
      outcomes: { stored: 0, duplicate: 0, quarantined: 0, rejected: 0 },
      published: 0,
      resent: 0,
      batches: 0,
      connects: 0,
    };
    this.done = new Promise<void>((resolve, reject) => {
      this.finished = resolve;
      this.failed = reject;
    });
    this.done.catch(() => {});
  }

  private status(state: 'online' | 'offline'): string {
    return JSON.stringify({
      v: WIRE_VERSION,
      gatewayId: this.o.gatewayId,
      state,
      at: new Date().toISOString(),
      version: 'fleet-sim',
    });
  }

  /** Connects (resolves on the first CONNACK) and starts flushing the backlog. */
  async start(): Promise<void> {
    const id = this.o.gatewayId;
    const client = mqtt.connect(this.o.url, {
      clientId: id,
      username: id,
      password: this.o.password,
      protocolVersion: 4,
      clean: false, // like the gateway: receipts sent while we were away are still delivered
      keepalive: this.o.keepaliveS,
      reconnectPeriod: 1000 + Math.floor(Math.random() * 2000), // jitter: no synchronized retries
      connectTimeout: this.o.connectTimeoutMs,
      will: { topic: topicFor(id, 'status'), payload: Buffer.from(this.status('offline')), qos: 1, retain: true },
    });
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic === topicFor(id, 'receipts')) this.onReceipt(payload);
    });
    client.on('connect', () => {
      this.stats.connects++;
      this.stats.connectedAt ??= Date.now();
      client.subscribe(topicFor(id, 'receipts'), { qos: 1 });
      client.publish(topicFor(id, 'status'), this.status('online'), { qos: 1, retain: true });
      this.pump();
    });
    client.on('error', (e) => {
      this.stats.error = e.message;
    });
    // resolves on the first CONNACK, or after connectTimeoutMs while mqtt.js keeps retrying in the
    // background (a real box never gives up); only refused credentials are final
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.stats.slowConnect = true;
        resolve();
      }, this.o.connectTimeoutMs);
      client.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      client.on('error', (e) => {
        if (/not authori[sz]ed|bad user/i.test(e.message)) {
          clearTimeout(t);
          client.end(true);
          reject(new Error(`${id}: ${e.message}`));
        }
      });
    }).catch((e: unknown) => {
      this.failed(e instanceof Error ? e : new Error(String(e)));
      throw e;
    });
    if (this.backlog.size === 0) this.finish();
  }

  /**
   * Publishes the next batch, up to maxInFlightBatches awaiting receipts, one publish at a time:
   * like gateway/uplink, the next publish waits for the previous one's PUBACK. With the embedded
   * broker a PUBACK means "stored", so a gateway whose batch waits in the hub's queue sends
   * nothing more (not even a re-send after the receipt timeout) until it is filed.
   */
  private pump(): void {
    const client = this.client;
    if (!client?.connected || this.publishing) return;
    if (this.inFlight.size < this.o.maxInFlightBatches) {
      const ids: string[] = [];
      const readings: Reading[] = [];
      for (const [id, reading] of this.backlog) {
        if (this.inFlightIds.has(id)) continue;
        ids.push(id);
        readings.push(reading);
        if (ids.length === this.o.batchSize) break;
      }
      if (ids.length === 0) return;
      const batchId = `${(this.seq++).toString(36)}-${randomBytes(4).toString('hex')}`;
      const msg: ReadingBatch = {
        v: WIRE_VERSION,
        gatewayId: this.o.gatewayId,
        batchId,
        sentAt: new Date().toISOString(),
        readings,
      };
      let maxSends = 0;
      for (const i of ids) {
        const n = (this.sends.get(i) ?? 0) + 1;
        this.sends.set(i, n);
        this.inFlightIds.add(i);
        if (n > 1) this.stats.resent++;
        maxSends = Math.max(maxSends, n);
      }
      const timeout = this.o.receiptBackoff
        ? this.o.receiptTimeoutMs * 2 ** Math.min(4, maxSends - 1)
        : this.o.receiptTimeoutMs;
      const expire = () => {
        // as gateway/uplink, whose pump waits on the PUBACK: no re-send while the broker has not
        // acknowledged the first copy (embedded hub: not filed yet); mqtt.js re-sends it itself
        // after a reconnect
        if (!entry.acked) {
          entry.timer = setTimeout(expire, timeout);
          return;
        }
        this.inFlight.delete(batchId);
        for (const i of ids) this.inFlightIds.delete(i);
        this.pump();
      };
      const sentAt = Date.now();
      const entry: InFlight = { ids, sentAt, timer: setTimeout(expire, timeout) };
      this.inFlight.set(batchId, entry);
      this.stats.batches++;
      this.stats.published += ids.length;
      this.publishing = true;
      client.publish(topicFor(this.o.gatewayId, 'readings'), JSON.stringify(msg), { qos: 1 }, () => {
        this.publishing = false;
        entry.acked = true;
        // as gateway/uplink: a late PUBACK restarts the receipt timeout (the receipt is on its way)
        if (Date.now() - sentAt > 1_000 && this.inFlight.get(batchId) === entry) {
          clearTimeout(entry.timer);
          entry.timer = setTimeout(expire, timeout);
        }
        this.pump();
      });
    }
  }

  private onReceipt(payload: Buffer): void {
    let parsed;
    try {
      parsed = receiptSchema.safeParse(JSON.parse(payload.toString('utf8')));
    } catch {
      return;
    }
    if (!parsed.success) return;
    const r = parsed.data;
    const f = this.inFlight.get(r.batchId);
    if (f) {
      clearTimeout(f.timer);
      this.inFlight.delete(r.batchId);
      for (const i of f.ids) this.inFlightIds.delete(i);
      this.o.onReceipt?.(Date.now() - f.sentAt, r.results.length);
    }
    // a late receipt for a timed-out batch still counts: it names readings the hub keeps
    for (const res of r.results) {
      this.inFlightIds.delete(res.id);
      if (!this.backlog.delete(res.id)) continue;
      this.stats.receipted++;
      this.stats.outcomes[res.outcome]++;
    }
    if (this.backlog.size === 0) this.finish();
    else this.pump();
  }

  private finish(): void {
    if (this.stats.doneAt) return;
    this.stats.doneAt = Date.now();
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    this.inFlight.clear();
    this.finished();
  }

  get remaining(): number {
    return this.backlog.size;
  }

  async stop(): Promise<void> {
    for (const f of this.inFlight.values()) clearTimeout(f.timer);
    const client = this.client;
    if (!client) return;
    if (client.connected)
      await client
        .publishAsync(topicFor(this.o.gatewayId, 'status'), this.status('offline'), { qos: 1, retain: true })
        .catch(() => {});
    await client.endAsync(true).catch(() => {});
  }
}
