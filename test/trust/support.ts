/**
 * Shared set-up of the trust tests (docs/security.md, docs/privacy.md): a real hub (embedded
 * broker, PostgreSQL, InfluxDB) on ephemeral ports, gateways as plain mqtt.js clients speaking
 * wire contract v1, and a local webhook receiver.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { METRICS, readingId, receiptSchema, topicFor, type MetricName, type Receipt } from '../../contract';
import { loadHubConfig } from '../../hub/config/load';
import type { HubConfigInput } from '../../hub/config/schema';
import { startHub, type HubOptions, type RunningHub } from '../../hub/main';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

export interface TrustHub {
  hub: RunningHub;
  pg: TestPostgres;
  influx: Awaited<ReturnType<typeof createTestInflux>>;
  stop(): Promise<void>;
}

export async function startTrustHub(
  prefix: string,
  overrides: HubConfigInput | Record<string, unknown> = {},
  opts: HubOptions = {},
): Promise<TrustHub> {
  const pg = await createTestPostgres(prefix);
  const influx = await createTestInflux(prefix);
  const base = {
    instanceId: prefix,
    profile: 'development',
    postgres: { url: pg.url },
    influx: { url: influx.url, database: influx.database },
    mqtt: { host: '127.0.0.1', port: 0, gatewayRateLimit: { messagesPerSecond: 10_000, burst: 10_000 } },
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
  };
  const config = loadHubConfig({ env: {}, overrides: deep(base, overrides) as HubConfigInput });
  const hub = await startHub(config, pino({ level: 'silent' }), { schedulers: false, ...opts });
  return {
    hub,
    pg,
    influx,
    stop: async () => {
      await hub.stop();
      await influx.drop();
      await pg.drop();
    },
  };
}

function deep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b))
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object'
        ? deep(out[k] as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  return out;
}

/** A gateway: connects with its credential, publishes batches and waits for their receipts. */
export class TestGateway {
  private n = 0;
  private readonly waiting = new Map<string, (r: Receipt) => void>();
  private constructor(
    readonly id: string,
    readonly client: MqttClient,
  ) {
    client.on('message', (_t, payload) => {
      const r = receiptSchema.parse(JSON.parse(payload.toString('utf8')));
      this.waiting.get(r.batchId)?.(r);
    });
  }

  static async connect(
    url: string,
    id: string,
    password: string,
    extra: mqtt.IClientOptions = {},
  ): Promise<TestGateway> {
    const client = await mqtt.connectAsync(url, {
      clientId: id,
      username: id,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...extra,
    });
    await client.subscribeAsync(topicFor(id, 'receipts'), { qos: 1 });
    return new TestGateway(id, client);
  }

  /** Publishes one reading of `metric` from `device` measured at `at`; resolves with its receipt result. */
  async measure(
    metric: MetricName,
    value: number,
    at: Date,
    device = 'C0:00:00:00:00:01',
  ): Promise<Receipt['results'][number]> {
    const dev = { address: device, driver: 'sim-device' };
    const id = readingId({ device: dev, metric, captureKey: `${this.id}:${at.toISOString()}:${this.n}` });
    const batchId = `${this.id}-${this.n++}`;
    const got = new Promise<Receipt>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no receipt for ${batchId}`)), 15_000);
      this.waiting.set(batchId, (r) => {
        clearTimeout(t);
        resolve(r);
      });
    });
    await this.client.publishAsync(
      topicFor(this.id, 'readings'),
      JSON.stringify({
        v: 1,
        gatewayId: this.id,
        batchId,
        sentAt: new Date().toISOString(),
        readings: [
          {
            id,
            gatewayId: this.id,
            device: dev,
            metric,
            value,
            unit: METRICS[metric].unit,
            measuredAt: at.toISOString(),
            flags: [],
          },
        ],
      }),
      { qos: 1 },
    );
    return (await got).results[0]!;
  }

  end(): Promise<void> {
    return this.client.endAsync();
  }
}

/** A local HTTP endpoint that records what it receives (webhook target). */
export async function webhookReceiver(): Promise<{
  url: string;
  got: string[];
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}> {
  const got: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push(body);
      headers.push(req.headers);
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    headers,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
