import { createServer, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import type pg from 'pg';
import { gatewayIdSchema, parseTopic } from '../../contract';
import { verifySecret } from '../security/secrets';
import { mayPublish, maySubscribe, type Principal } from './access-control';
import type { HubMetrics } from '../observability/metrics';
import { GatewayRateLimiter, type RateLimit } from './rate-limit';
import { errorMessage } from '../../contract/errors';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  hubUsername: string;
  hubPassword: string;
  maxPayloadBytes: number;
  /** per-gateway publish budget (rate-limit.ts); absent: unlimited */
  gatewayRateLimit?: RateLimit;
  /** how often connected gateways are checked for revocation (ms) */
  revocationCheckMs?: number;
}

/** In-process access to the embedded broker for the hub's ingest. */
export interface InProcessBroker {
  /** files a gateway's readings before the broker PUBACKs them; false: not filed (hub stopping) */
  onReadings(filer: (topic: string, payload: Buffer) => Promise<boolean>): void;
  /** `done` lets aedes read the publisher's next packets */
  subscribe(filter: string, handler: (topic: string, payload: Buffer, done: () => void) => void): Promise<void>;
  /** QoS 1; `retain` for the retained config topic */
  publish(topic: string, payload: string, opts?: { retain?: boolean }): void;
}

const NOT_AUTHORIZED = 5; // MQTT 3.1.1 CONNACK return code 5, "not authorized" (MQTT-3.2.2.3)

function authError(message: string): AuthenticateError {
  // aedes declares AuthErrorCode as a const enum, which isolatedModules cannot import: 5 is its NOT_AUTHORIZED
  const e = new Error(message) as AuthenticateError;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- see above
  e.returnCode = NOT_AUTHORIZED;
  return e;
}

/**
 * The hub's embedded aedes broker: per-gateway username/password checked against PostgreSQL
 * (revoked gateways refused), client id bound to the username, and the topic ACL.
 */
export class EmbeddedBroker {
  private readonly principals = new WeakMap<Client, Principal>();
  private server?: Server;
  private aedes?: Aedes;
  private revocationTimer?: NodeJS.Timeout;
  private readingsFiler?: (topic: string, payload: Buffer) => Promise<boolean>;
  private readonly gatewayClients = new Map<string, Client>();
  private readonly limiter?: GatewayRateLimiter;
  port = 0;

  constructor(
    private readonly opts: EmbeddedBrokerOptions,
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly metrics: HubMetrics,
  ) {
    if (opts.gatewayRateLimit) this.limiter = new GatewayRateLimiter(opts.gatewayRateLimit);
  }

  async start(): Promise<number> {
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          (p) => {
            this.principals.set(client, p);
            done(null, true);
          },
          (e: unknown) => {
            this.metrics.brokerAuthFailures.inc();
            this.log.warn(
              { clientId: client.id, code: 'MQTT_AUTH_REFUSED', reason: errorMessage(e) },
              'broker refused a connection',
            );
            done(authError(errorMessage(e)), false);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        const p = client ? this.principals.get(client) : undefined;
        if (!client) {
          done(null); // broker-internal publishes
          return;
        }
        if (!p || !mayPublish(p, packet.topic)) {
          this.metrics.brokerAclDenials.inc({ action: 'publish' });
          this.log.warn(
            { clientId: client.id, topic: packet.topic, code: 'MQTT_PUBLISH_DENIED' },
            'publish outside the client ACL',
          );
          done(new Error('MQTT_PUBLISH_DENIED'));
          return;
        }
        if (packet.payload.length > this.opts.maxPayloadBytes) {
          this.metrics.brokerAclDenials.inc({ action: 'oversize' });
          this.log.warn(
            { clientId: client.id, bytes: packet.payload.length, code: 'MQTT_PAYLOAD_TOO_LARGE' },
            'payload over the limit',
          );
          done(new Error('MQTT_PAYLOAD_TOO_LARGE'));
          return;
        }
        const filer = this.readingsFiler;
        // readings are filed before aedes PUBACKs them (it PUBACKs right after this hook):
        // the gateway's PUBACK then means "stored"; a hub stopping first closes the connection
        const proceed =
          p.kind === 'gateway' && filer && parseTopic(packet.topic)?.kind === 'readings'
            ? () =>
                void filer(packet.topic, packet.payload as Buffer).then((filed) =>
                  done(filed ? null : new Error('HUB_STOPPING')),
                )
            : () => done(null);
        const waitMs = p.kind === 'gateway' && this.limiter ? this.limiter.take(p.gatewayId) : 0;
        if (waitMs > 0) {
          this.metrics.brokerThrottled.inc();
          setTimeout(proceed, waitMs).unref();
          return;
        }
        proceed();
      },
      authorizeSubscribe: (client, sub, done) => {
        const p = this.principals.get(client);
        if (!p || !maySubscribe(p, sub.topic)) {
          this.metrics.brokerAclDenials.inc({ action: 'subscribe' });
          this.log.warn(
            { clientId: client.id, topic: sub.topic, code: 'MQTT_SUBSCRIBE_DENIED' },
            'subscription outside the client ACL',
          );
          done(new Error('MQTT_SUBSCRIBE_DENIED'));
          return;
        }
        done(null, sub);
      },
    });
    this.aedes = aedes;
    aedes.on('client', (client) => {
      if (this.principals.get(client)?.kind === 'gateway') this.gatewayClients.set(client.id, client);
    });
    aedes.on('clientDisconnect', (client) => {
      if (this.gatewayClients.get(client.id) === client) this.gatewayClients.delete(client.id);
    });
    aedes.on('clientError', (client, err) =>
      this.log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'),
    );
    this.revocationTimer = setInterval(() => void this.disconnectRevoked(), this.opts.revocationCheckMs ?? 5000);
    this.revocationTimer.unref();
    const server = createServer(aedes.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    return this.port;
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<Principal> {
    const secret = password?.toString('utf8') ?? '';
    if (!username || !secret) throw new Error('credentials required');
    if (username === this.opts.hubUsername) {
      if (secret !== this.opts.hubPassword) throw new Error('bad hub credentials');
      return { kind: 'hub' };
    }
    if (!gatewayIdSchema.safeParse(username).success) throw new Error('unknown gateway');
    if (client.id !== username) throw new Error('client id must be the gateway id');
    const { rows } = await this.pool.query<{ credential_hash: string | null; revoked_at: Date | null }>(
      'SELECT credential_hash, revoked_at FROM gateways WHERE id = $1',
      [username],
    );
    const gw = rows[0];
    if (!gw || gw.revoked_at || !verifySecret(secret, gw.credential_hash)) throw new Error('bad gateway credentials');
    return { kind: 'gateway', gatewayId: username };
  }

  /**
   * The hub's own side of the broker, without an MQTT connection (docs/ingest.md "Embedded broker").
   * Readings are filed in the publish authorisation hook, which aedes 1.x runs before it PUBACKs a
   * QoS 1 publish: a gateway's PUBACK means "stored", a held message back-pressures that gateway
   * alone (aedes reads its next packets afterwards), and gateways are filed concurrently.
   * Other topics (status, heartbeat) go through ordinary in-process subscriptions.
   */
  inProcess(): InProcessBroker {
    const aedes = this.aedes;
    if (!aedes) throw new Error('broker not started');
    return {
      onReadings: (filer) => {
        this.readingsFiler = filer;
      },
      subscribe: (filter, handler) =>
        new Promise<void>((resolve) =>
          aedes.subscribe(
            filter,
            (packet, done) => handler(packet.topic, packet.payload as Buffer, done),
            () => resolve(),
          ),
        ),
      publish: (topic, payload, opts) =>
        // fire and forget: awaiting inside a deliver handler could wait for a free emitter slot
        aedes.publish(
          { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: opts?.retain ?? false, dup: false },
          (err) => {
            if (err && opts?.retain)
              this.log.warn(
                { topic, code: 'CONFIG_NOT_SENT', err: err.message },
                'gateway config not published; published again at the next hub start',
              );
            else if (err)
              this.log.warn(
                { topic, code: 'RECEIPT_NOT_SENT', err: err.message },
                'receipt not sent; the gateway will re-send',
              );
          },
        ),
    };
  }

  /** Credentials are checked at CONNECT; a gateway revoked while connected is disconnected here. */
  private async disconnectRevoked(): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return;
    const connected = [...this.gatewayClients.keys()];
    if (connected.length === 0) return;
    try {
      const { rows } = await this.pool.query<{ id: string }>(
        'SELECT id FROM gateways WHERE id = ANY($1::text[]) AND revoked_at IS NOT NULL',
        [connected],
      );
      for (const { id } of rows) {
        const client = this.gatewayClients.get(id);
        if (!client || this.principals.get(client)?.kind !== 'gateway') continue;
        this.log.warn({ clientId: id, code: 'MQTT_GATEWAY_REVOKED' }, 'revoked gateway disconnected');
        this.limiter?.forget(id);
        client.close();
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'revocation check failed');
    }
  }

  async stop(): Promise<void> {
    if (this.revocationTimer) clearInterval(this.revocationTimer);
    await new Promise<void>((r) => (this.aedes ? this.aedes.close(() => r()) : r()));
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
