import pino from 'pino';
import { MAX_BATCH_READINGS, type Reading, type Receipt, type ReceiptOutcome } from '../../contract';
import { MqttUplink } from '../../gateway';
import { MemoryBuffer } from './memory-buffer';

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

/**
 * One simulated home gateway: the gateway's own uplink (gateway/uplink, wire contract v1: own
 * credentials and MQTT connection, retained birth/last will on .../status, batches at QoS 1 on
 * .../readings, each publish waiting for its PUBACK, receipts on .../receipts, receipt timeout
 * doubled per re-send, heartbeats) over an in-memory outbox holding the backlog. A reading leaves
 * the backlog only when a receipt names it (any outcome means the hub keeps it).
 */
export class SimGateway {
  readonly stats: SimGatewayStats;
  private uplink?: MqttUplink;
  private readonly buffer: MemoryBuffer;
  private readonly publishedAt = new Map<string, number>();
  private finished!: () => void;
  private failed!: (e: Error) => void;
  readonly done: Promise<void>;

  constructor(private readonly o: SimGatewayOptions) {
    if (o.batchSize < 1 || o.batchSize > MAX_BATCH_READINGS)
      throw new Error(`batchSize must be 1..${MAX_BATCH_READINGS}`);
    this.buffer = new MemoryBuffer(o.readings);
    this.stats = {
      gatewayId: o.gatewayId,
      total: this.buffer.depth,
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

  /** Connects (resolves on the first CONNACK) and starts flushing the backlog. */
  async start(): Promise<void> {
    const o = this.o;
    let connected!: () => void;
    let refused!: (e: Error) => void;
    const first = new Promise<void>((resolve, reject) => {
      connected = resolve;
      refused = reject;
    });
    const uplink = new MqttUplink(
      {
        gatewayId: o.gatewayId,
        mqtt: {
          url: o.url,
          password: o.password,
          keepaliveS: o.keepaliveS,
          batchSize: o.batchSize,
          receiptTimeoutMs: o.receiptTimeoutMs,
          // the box doubles its receipt timeout per re-send (capped); without backoff it stays fixed
          receiptTimeoutMaxMs: o.receiptBackoff ? o.receiptTimeoutMs * 16 : o.receiptTimeoutMs,
          maxInFlightBatches: o.maxInFlightBatches,
          heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        },
      },
      this.buffer,
      SILENT,
      {
        onConnect: () => {
          this.stats.connects++;
          this.stats.connectedAt ??= Date.now();
          connected();
          if (this.buffer.depth === 0) this.finish();
        },
        onPublish: (batchId, readings) => {
          this.publishedAt.set(batchId, Date.now());
          this.stats.batches++;
          this.stats.published += readings;
          this.stats.resent = this.buffer.resent;
        },
        onReceipt: (removed, receipt) => this.onReceipt(removed, receipt),
        onError: (e) => {
          this.stats.error = e.message;
          // refused credentials are final for a simulated box (a real one keeps trying)
          if (/not authori[sz]ed|bad user/i.test(e.message)) refused(new Error(`${o.gatewayId}: ${e.message}`));
        },
      },
      'fleet-sim',
      // jitter: 10 000 simulated boxes do not retry in step
      { reconnectPeriodMs: 1000 + Math.floor(Math.random() * 2000), connectTimeoutMs: o.connectTimeoutMs },
    );
    this.uplink = uplink;
    uplink.start();
    // resolves on the first CONNACK, or after connectTimeoutMs while the uplink keeps retrying in
    // the background (a real box never gives up); only refused credentials are final
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.stats.slowConnect = true;
        resolve();
      }, o.connectTimeoutMs);
    });
    try {
      await Promise.race([first, slow]);
    } catch (e) {
      await uplink.stop({ force: true }).catch(() => {});
      this.failed(e as Error);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private onReceipt(removed: string[], receipt: Receipt): void {
    const sentAt = this.publishedAt.get(receipt.batchId);
    if (sentAt !== undefined) {
      this.publishedAt.delete(receipt.batchId);
      this.o.onReceipt?.(Date.now() - sentAt, receipt.results.length);
    }
    // a late receipt for a timed-out batch still counts: it names readings the hub keeps
    const mine = new Set(removed);
    for (const r of receipt.results) {
      if (!mine.delete(r.id)) continue;
      this.stats.receipted++;
      this.stats.outcomes[r.outcome]++;
    }
    if (this.buffer.depth === 0) this.finish();
  }

  private finish(): void {
    if (this.stats.doneAt) return;
    this.stats.doneAt = Date.now();
    this.finished();
  }

  get remaining(): number {
    return this.buffer.depth;
  }

  async stop(): Promise<void> {
    await this.uplink?.stop({ force: true }).catch(() => {});
  }
}

/** the box's heartbeat period (gateway config default) */
const HEARTBEAT_INTERVAL_MS = 60_000;
const SILENT = pino({ level: 'silent' });
