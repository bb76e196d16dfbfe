import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import type pg from 'pg';
import { gatewayIdSchema, parseTopic } from '../../contract';
import { FailureLimiter, type FailureLimit } from '../security/failure-limiter';
import { safeEqual, verifySecret } from '../security/secrets';
import { mayPublish, maySubscribe, type Principal } from './access-control';
import { CredentialLoader } from './credential-loader';
import { retainedIndexedPersistence } from './retained-index';
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
  /** docs/security.md "MQTT edge": limits on sockets that have not logged in yet */
  edge?: Partial<MqttEdgeLimits>;
  /** failed logins per address + username, and per address (hub/security/failure-limiter.ts) */
  authFailureLimit?: { perUser?: FailureLimit; perAddress?: FailureLimit };
  /** keep those counters in PostgreSQL, shared by every hub instance (security.sharedThrottling) */
  sharedThrottling?: boolean;
  /** mqtts listener (TLS 1.2+) next to the plain one; port 0: any free port */
  tls?: { host: string; port: number; key: string | Buffer; cert: string | Buffer };
  /** false: no plain listener (only mqtts) */
  plain?: boolean;
}

export interface MqttEdgeLimits {
  /** bytes a socket may send before its CONNECT is accepted: a CONNECT is a few hundred bytes */
  preConnectMaxBytes: number;
  /** sockets from one address that have not logged in yet */
  maxPendingPerAddress: number;
  /** a socket must send its CONNECT within this time */
  connectTimeoutMs: number;
  /**
   * connections the kernel completes and queues before the hub accepts them (listen(2) backlog,
   * capped by net.core.somaxconn). Node's default is 511: when thousands of boxes reconnect at once
   * the queue overflows and each dropped SYN is retried by the box's kernel 1, 3, 7, 15, 31, 63 and
   * 127 s later (bench/README.md, session 9: 142 789 listen drops, no box connecting for 40 s)
   */
  listenBacklog: number;
  /** listening sockets per listener, sharing its port (SO_REUSEPORT): connections accepted per event-loop iteration */
  acceptors: number;
}

export const MQTT_USER_FAILURES: FailureLimit = { failures: 10, windowSec: 600, blockSec: 30, maxBlockSec: 3600 };
export const MQTT_ADDRESS_FAILURES: FailureLimit = { failures: 200, windowSec: 600, blockSec: 60, maxBlockSec: 3600 };

export const DEFAULT_MQTT_EDGE: MqttEdgeLimits = {
  preConnectMaxBytes: 64 * 1024,
  maxPendingPerAddress: 64,
  connectTimeoutMs: 5_000,
  listenBacklog: 4096,
  acceptors: 32,
};

/**
 * PostgreSQL connections the embedded broker keeps for itself (credential checks, shared login
 * throttling, revocation sweeps), apart from the hub's pool that ingest's transactions hold.
 */
export const BROKER_LOGIN_CONNECTIONS = 2;

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
  /** the listening sockets of the plain and TLS listeners (listenAll) */
  private readonly servers: Server[] = [];
  private aedes?: Aedes;
  private revocationTimer?: NodeJS.Timeout;
  private readingsFiler?: (topic: string, payload: Buffer) => Promise<boolean>;
  private readonly gatewayClients = new Map<string, Client>();
  private readonly limiter?: GatewayRateLimiter;
  /** per address + username: guessing one box's password */
  private readonly userFailures: FailureLimiter;
  /** per address: guessing across usernames (larger budget: many boxes may share a NAT address) */
  private readonly addressFailures: FailureLimiter;
  private readonly credentials: CredentialLoader;
  private readonly edge: MqttEdgeLimits;
  /** sockets not logged in yet, per remote address */
  private readonly pending = new Map<string, number>();
  /** releases a socket from the pre-login limits once its client is connected */
  private readonly admitted = new WeakMap<object, () => void>();
  port = 0;
  /** mqtts port when a TLS listener is configured */
  tlsPort = 0;

  constructor(
    private readonly opts: EmbeddedBrokerOptions,
    /** the broker's own connections (BROKER_LOGIN_CONNECTIONS): credentials, throttling, revocations */
    private readonly pool: pg.Pool,
    private readonly log: Logger,
    private readonly metrics: HubMetrics,
  ) {
    if (opts.gatewayRateLimit) this.limiter = new GatewayRateLimiter(opts.gatewayRateLimit);
    const shared = (name: string) => (opts.sharedThrottling ? { pool, name } : undefined);
    this.userFailures = new FailureLimiter(opts.authFailureLimit?.perUser ?? MQTT_USER_FAILURES, shared('mqtt-user'));
    this.addressFailures = new FailureLimiter(
      opts.authFailureLimit?.perAddress ?? MQTT_ADDRESS_FAILURES,
      shared('mqtt-address'),
    );
    this.edge = { ...DEFAULT_MQTT_EDGE, ...opts.edge };
    this.credentials = new CredentialLoader(pool, BROKER_LOGIN_CONNECTIONS);
  }

  /**
   * Pre-login limits (aedes parses a whole packet before authenticate runs, so a CONNECT announcing
   * 200 MiB would be buffered): cap the sockets per address that have not logged in, and the bytes
   * such a socket may send. The 'data' listener only observes: aedes reads the socket through
   * 'readable', which takes precedence (Node stream docs, "Choose one API style").
   */
  private admit(socket: Socket, aedes: Aedes): void {
    const addr = socket.remoteAddress ?? 'unknown';
    const pending = this.pending.get(addr) ?? 0;
    if (pending >= this.edge.maxPendingPerAddress) {
      this.metrics.brokerEdgeRefusals.inc({ reason: 'pending_per_address' });
      socket.destroy();
      return;
    }
    this.pending.set(addr, pending + 1);
    let bytes = 0;
    let open = true;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= this.edge.preConnectMaxBytes) return;
      this.metrics.brokerEdgeRefusals.inc({ reason: 'preconnect_bytes' });
      this.log.warn({ code: 'MQTT_PRECONNECT_TOO_LARGE', bytes }, 'socket cut before login: too many bytes');
      socket.destroy();
    };
    const release = () => {
      if (!open) return;
      open = false;
      socket.off('data', onData);
      const n = (this.pending.get(addr) ?? 1) - 1;
      if (n <= 0) this.pending.delete(addr);
      else this.pending.set(addr, n);
    };
    socket.on('data', onData);
    socket.once('close', release);
    this.admitted.set(socket, release);
    aedes.handle(socket);
  }

  async start(): Promise<number> {
    const aedes = await Aedes.createBroker({
      // retained messages found by exact topic: a storm's SUBSCRIBEs were a full scan each
      persistence: retainedIndexedPersistence(),
      connectTimeout: this.edge.connectTimeoutMs,
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
      this.admitted.get(client.conn)?.();
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
    if (this.opts.tls) {
      const tls = this.opts.tls;
      // TLS 1.2 at least (ANSSI "Recommandations de securite relatives a TLS" v1.2, R3)
      this.tlsPort = await this.listenAll(
        () =>
          createTlsServer(
            { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2', handshakeTimeout: this.edge.connectTimeoutMs },
            (socket) => this.admit(socket, aedes),
          ),
        tls.port,
        tls.host,
      );
    }
    if (this.opts.plain !== false)
      this.port = await this.listenAll(
        () => createServer((socket) => this.admit(socket, aedes)),
        this.opts.port,
        this.opts.host,
      );
    return this.port;
  }

  /**
   * `edge.acceptors` listening sockets on one port (SO_REUSEPORT: the kernel spreads incoming
   * connections over them). libuv accepts one connection per event-loop iteration and listening
   * socket (libuv pull request 3696, 2022): while a storm's filing makes each iteration last 100 ms
   * or more, one socket let a few boxes in per second, with thousands waiting in the kernel's queue
   * (bench/README.md, session 9). A port already in use still fails with EADDRINUSE: it is probed
   * without SO_REUSEPORT first, so a second hub on the same port does not silently share it.
   */
  private async listenAll(make: () => Server, port: number, host: string): Promise<number> {
    const once = (server: Server, p: number, reusePort: boolean) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: p, host, backlog: this.edge.listenBacklog, reusePort }, () => {
          const addr = server.address();
          resolve(typeof addr === 'object' && addr ? addr.port : p);
        });
      });
    // the kernel spreads connections over SO_REUSEPORT sockets on Linux (3.9+); elsewhere one socket
    const n = process.platform === 'linux' ? this.edge.acceptors : 1;
    if (n > 1 && port !== 0) {
      const probe = createServer();
      await once(probe, port, false);
      await new Promise<void>((r) => probe.close(() => r()));
    }
    let bound = port;
    for (let i = 0; i < n; i++) {
      const server = make();
      bound = await once(server, bound, n > 1);
      this.servers.push(server);
    }
    return bound;
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<Principal> {
    const secret = password?.toString('utf8') ?? '';
    if (!username || !secret) throw new Error('credentials required');
    // failed logins are throttled per address and per address + username, with back-off
    const addr = (client.conn as Partial<Socket> | undefined)?.remoteAddress ?? 'in-process';
    const userKey = `${addr}|${username}`;
    const waits = await Promise.all([this.userFailures.retryAfterMs(userKey), this.addressFailures.retryAfterMs(addr)]);
    if (waits.some((w) => w > 0)) {
      this.metrics.brokerEdgeRefusals.inc({ reason: 'auth_throttled' });
      throw new Error('MQTT_AUTH_THROTTLED');
    }
    try {
      return await this.checkCredentials(client, username, secret);
    } catch (e) {
      await Promise.all([this.userFailures.fail(userKey), this.addressFailures.fail(addr)]);
      throw e;
    }
  }

  private async checkCredentials(client: Client, username: string, secret: string): Promise<Principal> {
    if (username === this.opts.hubUsername) {
      // constant-time comparison: the hub's password must not leak through response timing
      if (!safeEqual(secret, this.opts.hubPassword)) throw new Error('bad hub credentials');
      return { kind: 'hub' };
    }
    if (!gatewayIdSchema.safeParse(username).success) throw new Error('unknown gateway');
    if (client.id !== username) throw new Error('client id must be the gateway id');
    const gw = await this.credentials.load(username);
    if (!gw || gw.revokedAt || !verifySecret(secret, gw.credentialHash)) throw new Error('bad gateway credentials');
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
    await Promise.all(this.servers.map((server) => new Promise<void>((r) => server.close(() => r()))));
  }
}
