import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { hubReadingsFilter, parseTopic, topicFor, type Receipt } from '../../contract';
import type { IngestService } from './ingest-service';
import { TimeSeriesWriteError } from '../storage/influx/write-batcher';
import type pg from 'pg';
import type { TimeSeriesStore } from '../storage/influx/timeseries';
import type { InProcessBroker } from '../broker/embedded-broker';
import { ConcurrencyLimit } from './concurrency-limit';
import { fileHeartbeat } from './heartbeat';
import { errorMessage } from '../../contract/errors';

/**
 * Batches admitted at once by the embedded broker path. They wait in the ingest's group commit
 * (first in, first out) and are filed many gateways at a time with a fixed number of PostgreSQL
 * round trips per group, so admitting many does not crowd the pool; the bound only caps memory.
 */
const FILING_CONCURRENCY = 4096;
/**
 * Presence statements (status, heartbeat: a box's last_seen_at) in flight at once. A reconnect
 * storm brings one of each per box within seconds: unlimited, 10 000 of them queued in the pool
 * ahead of the readings' statements (bench/README.md, session 8).
 */
const PRESENCE_CONCURRENCY = 2;

export interface MqttIngestOptions {
  url: string;
  clientId: string;
  username: string;
  password: string;
  /** MQTT 5 shared subscription group: hub instances in one group split the readings */
  sharedGroup?: string | undefined;
  protocolVersion: 4 | 5;
  /**
   * Subscriber connections (only with a shared group: each is a member of the group, so the
   * broker spreads messages over them). mqtt.js files one message per connection at a time.
   */
  connections?: number;
  /** Re-filing a message that could not be stored: first pause, doubled up to maxRetryDelayMs */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** called with the number of held messages whenever it changes (metrics) */
  onHeld?: (held: number) => void;
  /** embedded mode: file through the broker in-process instead of an MQTT connection */
  inProcess?: InProcessBroker;
  /** where gateway heartbeats are stored (fleet board); without it they are ignored */
  timeseries?: TimeSeriesStore;
}

/**
 * The hub's MQTT side: subscribes to every gateway's readings (shared when several hubs run) and
 * status and heartbeats, and PUBACKs a readings message only after it was filed (mqtt.js handleMessage). When a
 * store is down the message is neither PUBACKed nor receipted: it is filed again with backoff
 * until it is stored or the hub stops (docs/ingest.md "While a store is down"). Receipts go
 * back at QoS 1.
 */
export class MqttIngest {
  private clients: MqttClient[] = [];
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private readonly presence = new ConcurrencyLimit(PRESENCE_CONCURRENCY);
  /** messages waiting for storage (held, not PUBACKed) */
  held = 0;

  constructor(
    private readonly opts: MqttIngestOptions,
    private readonly ingest: () => IngestService,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const broker = this.opts.inProcess;
    if (broker) {
      // readings: filed before the broker PUBACKs them; status and heartbeats: subscriptions
      // released at once, their statements PRESENCE_CONCURRENCY at a time (this.presence)
      const limit = new ConcurrencyLimit(FILING_CONCURRENCY);
      broker.onReadings((topic, payload) => limit.run(() => this.fileUntilStored(topic, payload)));
      for (const kind of ['status', 'heartbeat']) {
        await broker.subscribe(hubReadingsFilter().replace(/readings$/, kind), (topic, payload, done) => {
          // released at once: aedes delivers in-process messages through one queue, and receipts
          // would otherwise wait behind thousands of status updates in a reconnect storm
          done();
          void this.fileUntilStored(topic, payload);
        });
      }
      return;
    }
    // several connections without a shared group would each receive every message
    const n = this.opts.sharedGroup ? Math.max(1, this.opts.connections ?? 1) : 1;
    for (let i = 0; i < n; i++)
      this.clients.push(this.connect(n === 1 ? this.opts.clientId : `${this.opts.clientId}-${i}`));
    await Promise.all(
      this.clients.map(
        (client) =>
          new Promise<void>((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`MQTT_CONNECT_TIMEOUT: ${this.opts.url}`)), 15_000);
            client.once('connect', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }

  private connect(clientId: string): MqttClient {
    const client = mqtt.connect(this.opts.url, {
      clientId,
      username: this.opts.username,
      password: this.opts.password,
      protocolVersion: this.opts.protocolVersion,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    });
    client.handleMessage = (packet, done) => {
      // the PUBACK must go to the connection the message came on: after a reconnect the
      // broker has forgotten it (clean session) and the id may name another message
      const stream = client.stream;
      this.fileUntilStored(packet.topic, packet.payload as Buffer).then(
        (filed) => {
          if (filed && client.stream === stream) done();
        },
        (e: unknown) => {
          // not acknowledged: the gateway re-sends after its receipt timeout
          this.log.error({ topic: packet.topic, code: 'INGEST_FAILED', err: errorMessage(e) }, 'message not filed');
        },
      );
    };
    client.on('error', (e) => this.log.warn({ err: e.message, code: 'MQTT_CLIENT_ERROR' }, 'hub mqtt client error'));
    client.on('connect', () => {
      const filters = ['readings', 'status', 'heartbeat'].map((kind) =>
        hubReadingsFilter(this.opts.sharedGroup).replace(/readings$/, kind),
      );
      client.subscribe(filters, { qos: 1 }, (err) => {
        if (err) this.log.error({ err: err.message }, 'hub subscription failed');
      });
    });
    return client;
  }

  /** true once filed; false when the hub stops first (no PUBACK: the broker or gateway re-sends). */
  private async fileUntilStored(topic: string, payload: Buffer): Promise<boolean> {
    const base = this.opts.retryDelayMs ?? 200;
    const cap = this.opts.maxRetryDelayMs ?? 1000;
    let held = false;
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.stopping) return false;
        try {
          await this.onMessage(topic, payload);
          return true;
        } catch (e) {
          if (!isStoreUnavailable(e)) {
            // a defect, not an outage: release the message (PUBACK, no receipt); the gateway
            // keeps the readings and re-sends them after its receipt timeout
            this.log.error({ topic, code: 'INGEST_FAILED', err: errorMessage(e).slice(0, 300) }, 'message not filed');
            return true;
          }
          if (!held) this.opts.onHeld?.(++this.held);
          held = true;
          const delay = Math.min(cap, base * 2 ** Math.min(attempt, 16));
          this.log.warn(
            {
              topic,
              attempt: attempt + 1,
              retryInMs: delay,
              code: 'STORE_UNAVAILABLE',
              err: errorMessage(e).slice(0, 200),
            },
            'message held: not stored, not acknowledged',
          );
          await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch((e: unknown) => {
            if (!this.stopSignal.signal.aborted) throw e; // stopping cuts the wait short
          });
        }
      }
    } finally {
      if (held) this.opts.onHeld?.(--this.held);
    }
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    const t = parseTopic(topic);
    if (!t) return;
    if (t.kind === 'readings') {
      await this.ingest().handleReadings(t.gatewayId, topic, payload);
    } else if (t.kind === 'status') {
      let online: boolean;
      try {
        online = (JSON.parse(payload.toString('utf8')) as { state?: string }).state === 'online';
      } catch {
        return;
      }
      await this.presence
        .run(() =>
          this.pool.query('UPDATE gateways SET online = $2, last_seen_at = now() WHERE id = $1', [t.gatewayId, online]),
        )
        .catch((e: unknown) => {
          // presence only: the retained status comes again on the next reconnect
          this.log.warn(
            { gatewayId: t.gatewayId, code: 'GATEWAY_STATUS_NOT_STORED', err: errorMessage(e).slice(0, 200) },
            'gateway status not stored',
          );
        });
    } else if (t.kind === 'heartbeat' && this.opts.timeseries) {
      await fileHeartbeat(t.gatewayId, payload, {
        timeseries: this.opts.timeseries,
        pool: this.pool,
        log: this.log,
        presence: this.presence,
      }).catch((e: unknown) => {
        this.log.warn(
          { gatewayId: t.gatewayId, code: 'HEARTBEAT_NOT_STORED', err: errorMessage(e).slice(0, 200) },
          'heartbeat not stored',
        );
      });
    }
  }

  publishReceipt = (gatewayId: string, receipt: Receipt): Promise<void> => {
    if (this.opts.inProcess) {
      this.opts.inProcess.publish(topicFor(gatewayId, 'receipts'), JSON.stringify(receipt));
      return Promise.resolve();
    }
    const client = this.clients.find((c) => c.connected) ?? this.clients[0];
    if (!client) return Promise.reject(new Error('mqtt not started'));
    // Not awaited: while handleMessage runs, mqtt.js reads no packet (not even this PUBACK) until
    // done(), so awaiting here deadlocks. A receipt lost with the link is obtained again when the
    // gateway re-sends the batch after its receipt timeout (outcome "duplicate").
    client.publish(topicFor(gatewayId, 'receipts'), JSON.stringify(receipt), { qos: 1 }, (err) => {
      if (err)
        this.log.warn(
          { gatewayId, code: 'RECEIPT_NOT_SENT', err: err.message },
          'receipt not sent; the gateway will re-send',
        );
    });
    return Promise.resolve();
  };

  /** Retained config for one gateway (contract/remote-config.ts); resolves once the broker has it. */
  publishConfig = async (gatewayId: string, payload: string): Promise<void> => {
    const topic = topicFor(gatewayId, 'config');
    if (this.opts.inProcess) {
      this.opts.inProcess.publish(topic, payload, { retain: true });
      return;
    }
    const client = this.clients.find((c) => c.connected);
    if (!client) throw Object.assign(new Error('MQTT broker not connected'), { code: 'MQTT_UNAVAILABLE' });
    await client.publishAsync(topic, payload, { qos: 1, retain: true });
  };

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    // forced: a graceful end waits for the PUBACKs of our receipts, which a connection reads only
    // after its current message is done, and messages arriving now are never done (no PUBACK).
    // A receipt lost here is obtained again when the gateway re-sends (outcome duplicate).
    await Promise.all(this.clients.map((c) => c.endAsync(true)));
  }
}

/** PostgreSQL SQLSTATE classes meaning "the server is not available right now". */
const PG_UNAVAILABLE = /^(08|53|57P0[1-3])/;

/**
 * Store outages (hold the message and file it again) versus defects (release it):
 * InfluxDB unavailable after the writer's retries, PostgreSQL refusing or dropping connections.
 */
export function isStoreUnavailable(e: unknown): boolean {
  if (e instanceof TimeSeriesWriteError) return e.code !== 'INFLUX_REJECTED';
  const err = e as { code?: unknown; message?: unknown };
  if (
    typeof err.code === 'string' &&
    (PG_UNAVAILABLE.test(err.code) ||
      /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/.test(err.code))
  )
    return true;
  return (
    typeof err.message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/.test(
      err.message,
    )
  );
}
