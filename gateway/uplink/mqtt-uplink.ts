import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  receiptSchema,
  topicFor,
  WIRE_VERSION,
  type GatewayStatus,
  type ReadingBatch,
  type Receipt,
} from '../../contract';
import type { BufferAlarm, BufferStats, OutboundBatch } from '../buffer/reading-buffer';
import type { GatewayConfig } from '../config/schema';
import { errorCode, errorMessage } from '../../contract/errors';

/** a PUBACK later than this restarts the batch's receipt timeout */
const SLOW_PUBACK_MS = 1_000;

/**
 * What the uplink needs from the durable buffer (gateway/buffer/reading-buffer.ts on the box; the
 * fleet simulator's in-memory stand-in): claim due batches, receipts, release on a failed publish.
 */
export interface UplinkBuffer {
  nextDueBatch(max: number, timeouts: { timeoutMs: number; maxTimeoutMs: number }): OutboundBatch | undefined;
  restartReceiptTimeout(batchId: string, nowMs?: number): void;
  applyReceipt(receipt: Receipt): string[];
  release(batchId: string): void;
  alarm(): BufferAlarm | null;
  stats(): BufferStats;
}

/** The part of the gateway's configuration the uplink reads. */
export interface UplinkConfig {
  gatewayId: string;
  mqtt: GatewayConfig['mqtt'];
}

/** Connection settings a fleet of simulated boxes tunes (defaults: the box's). */
export interface UplinkOptions {
  /** pause between reconnect attempts (mqtt.js reconnectPeriod); default 2 000 ms */
  reconnectPeriodMs?: number;
  /** CONNACK wait; default 10 000 ms */
  connectTimeoutMs?: number;
}

export interface UplinkEvents {
  onReceipt?(removed: string[], receipt: Receipt): void;
  /** each CONNACK (first connection and reconnections) */
  onConnect?(): void;
  /** a batch was handed to MQTT (before its PUBACK) */
  onPublish?(batchId: string, readings: number): void;
  /** an MQTT client error (refused credentials, network); the uplink keeps reconnecting */
  onError?(err: Error): void;
  heartbeat?(): Record<string, unknown>;
  /** a message on the retained config topic (validated by the receiver) */
  onConfig?(payload: Buffer): void;
}

/**
 * The gateway's link to the hub: MQTT with a persistent session, a retained birth message and a
 * retained last will (status online/offline), batches at QoS 1 from the durable buffer, and
 * receipts that remove readings from it. Nothing is deleted on PUBACK alone: only the hub's
 * receipt, sent after storage, proves a reading is kept.
 */
export class MqttUplink {
  private client?: MqttClient;
  private readonly inFlight = new Map<string, number>();
  private pumping = false;
  private pumpAgain = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  private lastAlarm: string | null = null;
  private stopped = false;
  connected = false;
  published = 0;
  receipts = 0;

  constructor(
    private readonly config: UplinkConfig,
    private readonly buffer: UplinkBuffer,
    private readonly log: Logger,
    private readonly events: UplinkEvents = {},
    private readonly version = '0.1.0',
    private readonly options: UplinkOptions = {},
  ) {}

  private status(state: GatewayStatus['state']): string {
    const s: GatewayStatus = {
      v: WIRE_VERSION,
      gatewayId: this.config.gatewayId,
      state,
      at: new Date().toISOString(),
      version: this.version,
    };
    return JSON.stringify(s);
  }

  start(): void {
    const id = this.config.gatewayId;
    const client = mqtt.connect(this.config.mqtt.url, {
      clientId: id,
      username: id,
      password: this.config.mqtt.password,
      protocolVersion: 4,
      clean: false, // persistent session: receipts published while we were away are delivered
      keepalive: this.config.mqtt.keepaliveS,
      reconnectPeriod: this.options.reconnectPeriodMs ?? 2_000,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      // no pre-generated table of the 65 536 two-byte numbers (mqtt-packet): 6 MiB of heap the box
      // cannot spare for a few packets a minute (bench/gateway-memory.ts)
      writeCache: false,
      will: { topic: topicFor(id, 'status'), payload: Buffer.from(this.status('offline')), qos: 1, retain: true },
      // mqtts:// with a pinned CA: only a broker certificate issued by this CA is accepted (the
      // system trust store is not consulted); host name checked as usual
      ...(this.config.mqtt.caFile ? { ca: [readFileSync(this.config.mqtt.caFile)], rejectUnauthorized: true } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      if (this.stopped) return;
      this.connected = true;
      this.log.info({ code: 'UPLINK_CONNECTED' }, 'connected to hub');
      this.events.onConnect?.();
      client.subscribe([topicFor(id, 'receipts'), topicFor(id, 'config')], { qos: 1 }, (err) => {
        if (err) this.log.error({ err: err.message, code: 'UPLINK_SUBSCRIBE_FAILED' }, 'receipt subscription refused');
      });
      client.publish(topicFor(id, 'status'), this.status('online'), { qos: 1, retain: true });
      // batches in flight on the previous connection were not lost: mqtt.js re-sends unacked QoS 1
      this.kick();
    });
    client.on('close', () => {
      if (this.connected) this.log.warn({ code: 'UPLINK_DISCONNECTED' }, 'hub link lost; readings stay buffered');
      this.connected = false;
    });
    client.on('error', (e) => {
      this.log.warn({ code: 'UPLINK_ERROR', err: e.message }, 'hub link error');
      this.events.onError?.(e);
    });
    client.on('message', (topic, payload) => {
      if (topic === topicFor(id, 'receipts')) this.onReceipt(payload);
      else if (topic === topicFor(id, 'config') && payload.length) this.events.onConfig?.(payload);
    });
    this.timers.push(
      setInterval(
        () => {
          this.kick();
          this.alarmChanged();
        },
        Math.min(5_000, this.config.mqtt.receiptTimeoutMs),
      ),
    );
    this.timers.push(setInterval(() => this.heartbeat(), this.config.mqtt.heartbeatIntervalMs));
  }

  private onReceipt(payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.log.warn({ code: 'RECEIPT_MALFORMED' }, 'receipt is not JSON');
      return;
    }
    const r = receiptSchema.safeParse(json);
    if (!r.success) {
      this.log.warn({ code: 'RECEIPT_INVALID' }, 'receipt does not match the contract');
      return;
    }
    const removed = this.buffer.applyReceipt(r.data);
    this.inFlight.delete(r.data.batchId);
    this.receipts++;
    this.events.onReceipt?.(removed, r.data);
    this.kick();
  }

  /** Publishes due batches while connected, up to maxInFlightBatches awaiting receipts. */
  kick(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    if (this.stopped) return;
    this.pumping = true;
    void this.pump()
      .catch((e: unknown) => {
        this.log.error(
          { code: errorCode(e) ?? 'UPLINK_PUMP_FAILED', err: errorMessage(e) },
          'batch not taken from the buffer',
        );
      })
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    const client = this.client;
    const { receiptTimeoutMs, batchSize, maxInFlightBatches } = this.config.mqtt;
    const now = Date.now();
    for (const [batchId, sentAt] of this.inFlight) if (sentAt < now - receiptTimeoutMs) this.inFlight.delete(batchId);
    while (client && this.connected && !this.stopped && this.inFlight.size < maxInFlightBatches) {
      const batch = this.buffer.nextDueBatch(batchSize, {
        timeoutMs: receiptTimeoutMs,
        maxTimeoutMs: this.config.mqtt.receiptTimeoutMaxMs,
      });
      if (!batch) return;
      const msg: ReadingBatch = {
        v: WIRE_VERSION,
        gatewayId: this.config.gatewayId,
        batchId: batch.batchId,
        sentAt: new Date().toISOString(),
        readings: batch.readings,
      };
      this.inFlight.set(batch.batchId, Date.now());
      const publishedAt = Date.now();
      this.events.onPublish?.(batch.batchId, batch.readings.length);
      try {
        await client.publishAsync(topicFor(this.config.gatewayId, 'readings'), JSON.stringify(msg), { qos: 1 });
        this.published += batch.readings.length;
        // the receipt timeout runs from the PUBACK: until then the broker had not taken the batch
        // (the embedded hub acknowledges once it is stored, after a wait in its queue in a storm),
        // and a timeout counted from the publish would re-send a batch whose receipt is on its way.
        // A prompt PUBACK changes nothing worth a buffer write.
        const ackedAt = Date.now();
        if (ackedAt - publishedAt > SLOW_PUBACK_MS && this.inFlight.has(batch.batchId)) {
          this.inFlight.set(batch.batchId, ackedAt);
          this.buffer.restartReceiptTimeout(batch.batchId, ackedAt);
        }
      } catch (e) {
        this.inFlight.delete(batch.batchId);
        this.buffer.release(batch.batchId);
        this.log.warn(
          { code: 'UPLINK_PUBLISH_FAILED', err: (e as Error).message },
          'batch not published; kept for retry',
        );
        return;
      }
    }
  }

  /** sends a heartbeat at once when the buffer alarm changed (the hub hears it before a drop) */
  alarmChanged(): void {
    const alarm = this.buffer.alarm();
    if (alarm === this.lastAlarm) return;
    if (alarm) this.log.warn({ code: alarm }, 'buffer alarm');
    this.lastAlarm = alarm;
    this.heartbeat();
  }

  heartbeat(): void {
    if (!this.client || !this.connected) return;
    const s = this.buffer.stats();
    this.lastAlarm = s.alarm;
    const hb = {
      v: WIRE_VERSION,
      gatewayId: this.config.gatewayId,
      at: new Date().toISOString(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      version: this.version,
      queue: { depth: s.depth, oldestAt: s.oldestAt, bytes: s.bytes, alarm: s.alarm },
      adapter: 'unknown',
      devices: [],
      ...this.events.heartbeat?.(),
    };
    this.client.publish(topicFor(this.config.gatewayId, 'heartbeat'), JSON.stringify(hb), { qos: 0 });
  }

  /** Says offline (retained) and disconnects; `force` does not wait for in-flight acknowledgements. */
  async stop(opts: { force?: boolean } = {}): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const client = this.client;
    if (!client) return;
    if (this.connected)
      await client
        .publishAsync(topicFor(this.config.gatewayId, 'status'), this.status('offline'), { qos: 1, retain: true })
        .catch((e: unknown) => {
          // the broker's will message announces "offline" when this last word does not get through
          this.log.warn({ err: errorMessage(e) }, 'offline status not published');
        });
    this.connected = false;
    await client.endAsync(opts.force ?? false);
    // a pump already running finishes before the buffer closes
    for (let i = 0; this.pumping && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
  }
}
