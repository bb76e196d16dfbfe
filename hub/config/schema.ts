import { z } from 'zod';

/**
 * Hub configuration. One schema gives the types, the validation (all errors at once) and the
 * documentation of every environment variable (docs/configuration.md is generated from it).
 */
export const hubConfigSchema = z
  .object({
    instanceId: z.string().min(1).default('hub-1').describe('Name of this hub instance in logs and metrics'),
    profile: z
      .enum(['production', 'development'])
      .default('production')
      .describe(
        'production: webhooks https-only to public addresses, plain MQTT/HTTP listeners only on loopback unless marked insecure (docs/security.md)',
      ),
    postgres: z.object({
      url: z.url().default('postgres://postgres@127.0.0.1:5432/vigil').describe('PostgreSQL connection URL'),
      createDatabase: z.boolean().default(false).describe('Create the database when missing (demo, tests)'),
      poolSize: z
        .number()
        .int()
        .min(4)
        .max(200)
        .default(24)
        .describe(
          'PostgreSQL connections of the hub process: ingest groups and rule shards hold one each, the API and the scheduler share the rest (bench/README.md); the embedded broker keeps 2 more for logins; keep the sum over hub instances below max_connections',
        ),
    }),
    influx: z.object({
      url: z
        .url()
        .default('http://127.0.0.1:8086')
        .describe('InfluxDB 1.x HTTP API (or the 1.x-compatible API of later versions)'),
      database: z
        .string()
        .regex(/^[a-zA-Z0-9_]+$/)
        .default('vigil')
        .describe('InfluxDB database'),
      username: z.string().optional(),
      password: z.string().optional(),
      // docs/ingest.md "Writes": points are buffered and written in batches
      batch: z
        .object({
          maxPoints: z
            .number()
            .int()
            .min(1)
            .max(100_000)
            // bench/hub-ingest.ts's raw sweep: batches of 10 000-20 000 points write fastest on InfluxDB 1.x
            .default(10_000)
            .describe('Flush the write buffer when it holds this many points'),
          flushIntervalMs: z
            .number()
            .int()
            .min(0)
            .max(60_000)
            .default(10)
            .describe('Flush at the latest this long after the first buffered point'),
        })
        .default({ maxPoints: 10_000, flushIntervalMs: 10 }),
      retry: z
        .object({
          initialDelayMs: z
            .number()
            .int()
            .min(1)
            .default(100)
            .describe('First retry delay after a failed write (doubles each attempt)'),
          maxDelayMs: z.number().int().min(1).default(2000).describe('Retry delay cap'),
          giveUpAfterMs: z
            .number()
            .int()
            .min(0)
            .default(60_000)
            .describe(
              'A write fails (INFLUX_UNAVAILABLE) after retrying this long; ingest then holds the message and files it again',
            ),
        })
        .default({ initialDelayMs: 100, maxDelayMs: 2000, giveUpAfterMs: 60_000 }),
      // docs/ingest.md "Retention and daily aggregates"
      manageSchema: z
        .enum(['auto', 'off'])
        .default('auto')
        .describe(
          'auto: create the database, retention policies and continuous queries (InfluxDB 1.x); off: provisioned by the operator (InfluxDB 2.x/3.x)',
        ),
      rawRetention: z
        .string()
        .regex(/^(INF|\d+[hdw])$/)
        .default('260w')
        .describe('Duration of the raw retention policy vigil_raw (INF or e.g. 520w; docs/privacy.md "Retention")'),
      dailyRetention: z
        .string()
        .regex(/^(INF|\d+[hdw])$/)
        .default('520w')
        .describe('Duration of the daily aggregates retention policy vigil_daily (docs/privacy.md "Retention")'),
      hourlyRetention: z
        .string()
        .regex(/^(INF|\d+[hdw])$/)
        .default('260w')
        .describe(
          'Duration of the hourly rollup retention policy vigil_hourly (as raw points; docs/privacy.md "Retention")',
        ),
    }),
    mqtt: z.object({
      mode: z
        .enum(['embedded', 'external'])
        .default('embedded')
        .describe('embedded: run the aedes broker in the hub; external: connect to Mosquitto/EMQX'),
      host: z.string().default('127.0.0.1').describe('Embedded broker listen address (plain MQTT)'),
      port: z.number().int().min(0).max(65535).default(1883).describe('Embedded broker port (0: any free port)'),
      plain: z.boolean().default(true).describe('Embedded broker: open the plain MQTT listener (false: mqtts only)'),
      insecure: z
        .boolean()
        .default(false)
        .describe('production profile: allow the plain MQTT listener on a non-loopback address (no TLS)'),
      tls: z
        .object({
          host: z.string().default('0.0.0.0').describe('mqtts listen address'),
          port: z.number().int().min(0).max(65535).default(8883).describe('mqtts port (TLS 1.2+)'),
          certFile: z.string().min(1).describe('PEM certificate chain of the broker'),
          keyFile: z.string().min(1).describe('PEM private key of the broker'),
        })
        .optional()
        .describe('Embedded broker mqtts listener'),
      edge: z
        .object({
          preConnectMaxBytes: z
            .number()
            .int()
            .min(1024)
            .default(64 * 1024),
          maxPendingPerAddress: z.number().int().min(1).default(64),
          connectTimeoutMs: z.number().int().min(500).default(5000),
          listenBacklog: z
            .number()
            .int()
            .min(16)
            .max(65535)
            .default(4096)
            .describe(
              'Connections queued by the kernel before the hub accepts them (capped by net.core.somaxconn): a reconnect storm overflows a short queue and boxes wait for SYN retries',
            ),
          acceptors: z
            .number()
            .int()
            .min(1)
            .max(256)
            .default(32)
            .describe(
              'Listening sockets per MQTT listener sharing its port (SO_REUSEPORT): the hub accepts one connection per event-loop iteration and socket, so a busy hub needs several to let a storm in',
            ),
        })
        .default({
          preConnectMaxBytes: 64 * 1024,
          maxPendingPerAddress: 64,
          connectTimeoutMs: 5000,
          listenBacklog: 4096,
          acceptors: 32,
        })
        .describe('Limits on MQTT sockets that have not logged in (docs/security.md "MQTT edge")'),
      url: z.string().optional().describe('External broker URL, e.g. mqtt://127.0.0.1:1883'),
      username: z.string().default('vigil-hub').describe('Hub service account on the broker'),
      password: z.string().optional().describe('Hub service account password (embedded: generated when absent)'),
      sharedGroup: z
        .string()
        .regex(/^[a-z0-9-]+$/)
        .optional()
        .describe('MQTT 5 shared subscription group: hub instances with the same group split the readings'),
      maxPayloadBytes: z
        .number()
        .int()
        .positive()
        .default(512 * 1024),
      ingestConnections: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(4)
        .describe(
          'External mode with sharedGroup: subscriber connections per hub instance (each files one message at a time)',
        ),
      // docs/ingest.md "Rate limiting": a flooding gateway is slowed down, the others keep flowing
      gatewayRateLimit: z
        .object({
          messagesPerSecond: z
            .number()
            .positive()
            .default(20)
            .describe('Embedded broker: sustained publishes per second per gateway'),
          burst: z
            .number()
            .int()
            .min(1)
            .default(50)
            .describe('Embedded broker: publishes a gateway may send at once before being slowed'),
        })
        .default({ messagesPerSecond: 20, burst: 50 }),
    }),
    http: z.object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      insecure: z
        .boolean()
        .default(false)
        .describe('production profile: allow plain HTTP on a non-loopback address (e.g. behind a TLS reverse proxy)'),
      tls: z
        .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
        .optional()
        .describe('Serve the API over HTTPS (TLS 1.2+)'),
      bodyLimitBytes: z
        .number()
        .int()
        .min(1024)
        .default(1024 * 1024)
        .describe('Larger bodies get 413 PAYLOAD_TOO_LARGE'),
      requestTimeoutMs: z
        .number()
        .int()
        .min(1000)
        .default(20_000)
        .describe('A request must arrive whole within this time'),
      tokenTtlDays: z.number().int().min(1).max(365).default(90).describe('Lifetime of a professional bearer token'),
    }),
    /** the care team's web workspace (docs/web.md) */
    web: z
      .object({
        idleTimeoutMinutes: z.number().int().min(1).max(240).default(15).describe('A session unused this long ends'),
        absoluteTimeoutHours: z
          .number()
          .int()
          .min(1)
          .max(24)
          .default(12)
          .describe('A session ends this long after sign-in'),
        secureCookies: z
          .enum(['auto', 'always', 'never'])
          .default('auto')
          .describe('Secure cookies: auto = when the request came over HTTPS (behind a TLS proxy: always)'),
        grafanaUrl: z.url().optional().describe('Grafana base URL for the patient board link'),
        oidc: z
          .object({
            issuer: z.url(),
            clientId: z.string().min(1),
            clientSecret: z.string().min(1),
            redirectUri: z.url().optional().describe('default: <request origin>/web/oidc/callback'),
            label: z.string().optional(),
          })
          .optional()
          .describe("OpenID Connect sign-in through the hospital's identity provider"),
      })
      .prefault({}),
    retention: z
      .object({
        readings: z
          .number()
          .int()
          .min(1)
          .default(5 * 365),
        resolvedEpisodes: z
          .number()
          .int()
          .min(1)
          .default(5 * 365),
        quarantine: z.number().int().min(1).default(90),
        deadLetters: z.number().int().min(1).default(30),
        webhookDeliveries: z.number().int().min(1).default(90),
        accessLog: z
          .number()
          .int()
          .min(1)
          .default(3 * 365),
        auditLog: z
          .number()
          .int()
          .min(1)
          .default(3 * 365),
      })
      .default({
        readings: 5 * 365,
        resolvedEpisodes: 5 * 365,
        quarantine: 90,
        deadLetters: 30,
        webhookDeliveries: 90,
        accessLog: 3 * 365,
        auditLog: 3 * 365,
      })
      .describe('Days each PostgreSQL store keeps its rows (docs/privacy.md "Retention"); enforced daily'),
    security: z
      .object({
        secretKey: z
          .string()
          .min(32)
          .optional()
          .describe(
            'Key (32+ characters) sealing webhook secrets at rest (AES-256-GCM); without it, production refuses to register webhooks',
          ),
        sharedThrottling: z
          .boolean()
          .default(false)
          .describe(
            'Keep failed-login counters (API tokens, enrollment codes, MQTT logins) in PostgreSQL so several hub instances share one budget and one block',
          ),
      })
      .default({ sharedThrottling: false }),
    grafana: z
      .object({
        influxScopes: z
          .boolean()
          .default(false)
          .describe(
            'Keep one InfluxDB projection database and read-only user per professional for Grafana (hub/security/grafana-scopes.ts); needs influx admin credentials',
          ),
        scopeKey: z
          .string()
          .min(32)
          .optional()
          .describe('Secret the per-professional InfluxDB passwords are derived from (at least 32 characters)'),
        syncEveryMs: z.number().int().min(10_000).default(60_000).describe('How often the projections are rebuilt'),
        postgresScopes: z
          .boolean()
          .default(false)
          .describe(
            'Keep one PostgreSQL login per professional for Grafana, rows by row-level security (hub/security/grafana-postgres-scopes.ts, migration 210)',
          ),
        postgresRoleAdminUrl: z
          .string()
          .optional()
          .describe(
            'PostgreSQL connection allowed to CREATE ROLE (CREATEROLE, ADMIN OPTION on vigil_grafana) for those logins; default: the hub connection',
          ),
        url: z.url().optional().describe("Grafana's address, for its organisations and users (one per professional)"),
        publicUrl: z
          .url()
          .optional()
          .describe(
            "Grafana's address as professionals' browsers reach it: POST /api/grafana/session answers a login link there (JWT signed by the hub)",
          ),
        adminUser: z.string().default('admin').describe("Grafana server administrator's login"),
        adminPassword: z.string().optional().describe("Grafana server administrator's password"),
        provisioningDir: z
          .string()
          .optional()
          .describe("Grafana's provisioning directory, where the hub writes each organisation's data sources"),
        postgresHost: z
          .string()
          .default('postgres:5432')
          .describe('PostgreSQL host:port as Grafana reaches it (data sources)'),
        postgresSslMode: z
          .enum(['disable', 'require', 'verify-ca', 'verify-full'])
          .default('require')
          .describe("sslmode of Grafana's PostgreSQL data sources"),
        influxUrl: z.string().default('http://influxdb:8086').describe('InfluxDB as Grafana reaches it (data sources)'),
      })
      .default({
        influxScopes: false,
        syncEveryMs: 60_000,
        postgresScopes: false,
        adminUser: 'admin',
        postgresHost: 'postgres:5432',
        postgresSslMode: 'require',
        influxUrl: 'http://influxdb:8086',
      }),
    fleet: z
      .object({
        otaReconcileMs: z
          .number()
          .int()
          .min(200)
          .default(15_000)
          .describe('How often the gateway update offers are brought in line with the current rollout'),
      })
      .default({ otaReconcileMs: 15_000 }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // docs/patient.md: the patient space, messaging keys, notification channels
    patient: z
      .object({
        publicUrl: z
          .url()
          .default('http://127.0.0.1:8080')
          .describe('Address patients reach the hub at (printed QR codes); https:// makes session cookies Secure'),
        messageKeys: z
          .string()
          .optional()
          .describe(
            'Message encryption keys "id:base64(32 bytes)[,older...]"; the first seals new messages. Absent: messaging is off',
          ),
      })
      .prefault({}),
    notify: z
      .object({
        smtpUrl: z
          .string()
          .optional()
          .describe('SMTP server for e-mail, e.g. smtps://user:pass@mail.example.org:465. Absent: no e-mail'),
        mailFrom: z.string().default('Vigil <no-reply@vigil.invalid>').describe('Sender of e-mails'),
        smsUrl: z.url().optional().describe('SMS provider base URL (POST <url>/messages). Absent: no SMS'),
        smsToken: z.string().optional().describe('SMS provider bearer token'),
        smsSender: z.string().max(11).default('Vigil').describe('SMS sender name'),
        pollMs: z
          .number()
          .int()
          .min(100)
          .max(60_000)
          .default(1000)
          .describe('Notification dispatcher safety-net poll period'),
      })
      .prefault({}),
  })
  .strict();

export type HubConfig = z.infer<typeof hubConfigSchema>;
export type HubConfigInput = z.input<typeof hubConfigSchema>;
