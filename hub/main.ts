import { startCohortRefresh } from './reporting/cohort-refresh';
import { readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { startRetentionJob } from './admin/retention';
import { syncGrafana } from './security/grafana-sync';
import type pg from 'pg';
import { EpisodeStore } from './alerts/episode-store';
import { buildApi } from './api/app';
import { GatewayRemoteConfig } from './gateways/remote-config';
import { BROKER_LOGIN_CONNECTIONS, EmbeddedBroker, type InProcessBroker } from './broker/embedded-broker';
import { ConfigError } from './config/load';
import type { HubConfig } from './config/schema';
import { IngestService, ruleShardsFor } from './ingest/ingest-service';
import { MqttIngest } from './ingest/mqtt-ingest';
import { PatientMapper } from './ingest/patient-mapping';
import { createHubMetrics, type HubMetrics } from './observability/metrics';
import { WebhookDispatcher } from './delivery/webhooks';
import { systemClock, type Clock } from './rules/clock';
import { RuleEngine } from './rules/engine';
import { generateSecret } from './security/secrets';
import { TimeSeriesStore } from './storage/influx/timeseries';
import { createPool, ensureDatabase } from './storage/postgres/database';
import { migrate } from './storage/postgres/migrate';
import { startGrowingTableStatistics } from './storage/postgres/growing-table-statistics';
import { EnvKeyring } from './messaging/kms';
import { EmailChannel, HttpSmsChannel } from './notify/channels';
import { NotifyService } from './notify/service';
import { createPatientSide, type PatientSide } from './patient/side';
import { errorMessage } from '../contract/errors';

export interface RunningHub {
  config: HubConfig;
  pool: pg.Pool;
  timeseries: TimeSeriesStore;
  metrics: HubMetrics;
  log: Logger;
  /** URL of the broker the hub reads from (the embedded one, or the external one) */
  mqttUrl: string;
  /** HTTP API base URL */
  httpUrl: string;
  /** rule engine: tick() runs scheduled rules, re-notification and re-measure expiry */
  rules: RuleEngine;
  /** webhook delivery: runOnce() sends due deliveries */
  webhooks: WebhookDispatcher;
  /** notification service: runOnce() processes events and sends due deliveries */
  notify: NotifyService;
  patientSide: PatientSide;
  stop(): Promise<void>;
}

/** Test and embedding options (issue 6): an injectable clock, and periodic work off to drive it by hand. */
export interface HubOptions {
  clock?: Clock;
  /** run the rule scheduler and the webhook dispatcher on timers (default true) */
  schedulers?: boolean;
}

/**
 * Composition root of the hub: config -> stores (migrations applied) -> broker -> ingest -> API.
 * Every part is started here and stopped in reverse order.
 */
export async function startHub(
  config: HubConfig,
  log: Logger = pino({ level: config.logLevel, base: { svc: 'hub', instance: config.instanceId } }),
  opts: HubOptions = {},
): Promise<RunningHub> {
  const clock = opts.clock ?? systemClock;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse())
      await s().catch((e: unknown) => {
        log.warn({ err: errorMessage(e) }, 'stop step failed');
      });
  };
  try {
    if (config.postgres.createDatabase) await ensureDatabase(config.postgres.url);
    const pool = createPool(config.postgres.url, config.postgres.poolSize);
    stops.push(() => pool.end());
    const applied = await migrate(pool);
    if (applied.length) log.info({ migrations: applied }, 'database migrations applied');
    // a new database's ledger outgrows the plans made while it was empty (bench/README.md "Session 12")
    stops.push(startGrowingTableStatistics(pool, log));

    const metrics = createHubMetrics();
    const timeseries = new TimeSeriesStore(config.influx.url, config.influx.database, config.influx, {
      onFlush: (points) => metrics.influxFlushes.observe(points),
      onRetry: (attempt, delayMs, err) => {
        metrics.influxRetries.inc();
        log.warn(
          { attempt, retryInMs: delayMs, code: 'INFLUX_UNAVAILABLE', err: err.message.slice(0, 200) },
          'InfluxDB write failed; retrying',
        );
      },
      onBackfillFailed: (err) =>
        log.warn(
          { code: 'INFLUX_BACKFILL_FAILED', err: err.message.slice(0, 200) },
          'daily aggregates of late readings not recomputed yet',
        ),
    });
    await timeseries.ensureDatabase();
    stops.push(() => timeseries.close());
    const hubPassword = config.mqtt.password ?? generateSecret();
    let mqttUrl: string;
    let inProcess: InProcessBroker | undefined;
    if (config.mqtt.mode === 'embedded') {
      // logins have connections of their own: queued behind ingest's transactions in the shared
      // pool, a CONNECT waited seconds for its credential check during a reconnect storm, and the
      // broker's cap on sockets not yet logged in then turned boxes away (bench/README.md, session 8)
      const loginPool = createPool(config.postgres.url, BROKER_LOGIN_CONNECTIONS);
      stops.push(() => loginPool.end());
      const broker = new EmbeddedBroker(
        {
          host: config.mqtt.host,
          port: config.mqtt.port,
          hubUsername: config.mqtt.username,
          hubPassword,
          maxPayloadBytes: config.mqtt.maxPayloadBytes,
          gatewayRateLimit: config.mqtt.gatewayRateLimit,
          edge: config.mqtt.edge,
          plain: config.mqtt.plain,
          sharedThrottling: config.security.sharedThrottling,
          ...(config.mqtt.tls
            ? {
                tls: {
                  host: config.mqtt.tls.host,
                  port: config.mqtt.tls.port,
                  cert: readFileSync(config.mqtt.tls.certFile),
                  key: readFileSync(config.mqtt.tls.keyFile),
                },
              }
            : {}),
        },
        loginPool,
        log,
        metrics,
      );
      const port = await broker.start();
      stops.push(() => broker.stop());
      // the hub files in-process through the broker: no MQTT hop, gateways filed concurrently
      inProcess = broker.inProcess();
      const host = config.mqtt.host === '0.0.0.0' || config.mqtt.host === '::' ? '127.0.0.1' : config.mqtt.host;
      mqttUrl = config.mqtt.plain ? `mqtt://${host}:${port}` : `mqtts://127.0.0.1:${broker.tlsPort}`;
      log.info(
        { port: config.mqtt.plain ? port : null, tlsPort: broker.tlsPort || null },
        'embedded MQTT broker listening',
      );
    } else {
      // loadHubConfig refuses this already; a config built in code gets the same answer
      if (!config.mqtt.url)
        throw new ConfigError('CONFIG_INVALID: hub configuration:\n  mqtt.url: required when mqtt.mode is external');
      mqttUrl = config.mqtt.url;
    }

    const episodes = new EpisodeStore(pool);
    const rules = new RuleEngine(episodes, metrics, log, { pool, clock });
    // program definitions are cached while this hub LISTENs for changes from any hub (docs/programs.md)
    await rules.settings.programs.listen(log);
    stops.push(() => rules.settings.programs.close());
    const webhooks = new WebhookDispatcher(pool, metrics, log, {
      clock,
      profile: config.profile,
      secretKey: config.security.secretKey,
    });
    const mapper = new PatientMapper(pool);
    const mqttIngest: MqttIngest = new MqttIngest(
      {
        url: mqttUrl,
        clientId: `vigil-hub-${config.instanceId}`,
        username: config.mqtt.username,
        password: hubPassword,
        sharedGroup: config.mqtt.sharedGroup,
        timeseries,
        // aedes speaks MQTT 3.1.1; shared subscriptions need MQTT 5 (external brokers)
        protocolVersion: config.mqtt.mode === 'embedded' ? 4 : 5,
        connections: config.mqtt.mode === 'external' ? config.mqtt.ingestConnections : 1,
        onHeld: (n) => metrics.heldMessages.set(n),
        inProcess,
      },
      () => ingest,
      pool,
      log,
    );
    const ingest = new IngestService({
      pool,
      timeseries,
      mapper,
      rules,
      metrics,
      log,
      maxPayloadBytes: config.mqtt.maxPayloadBytes,
      publishReceipt: mqttIngest.publishReceipt,
      // reception times on the hub's clock: missing data reads them (docs/clinical/rules.md)
      clock,
      ruleShards: ruleShardsFor(config.postgres.poolSize),
    });
    await mqttIngest.start();
    stops.push(() => mqttIngest.stop());

    const gatewayConfig = new GatewayRemoteConfig(pool, mqttIngest.publishConfig, clock);
    // docs/patient.md: channels exist only when configured; messaging only with a key
    const email = config.notify.smtpUrl ? new EmailChannel(config.notify.smtpUrl, config.notify.mailFrom) : undefined;
    if (email)
      stops.push(() => {
        email.close();
        return Promise.resolve();
      });
    const sms =
      config.notify.smsUrl && config.notify.smsToken
        ? new HttpSmsChannel(config.notify.smsUrl, config.notify.smsToken, config.notify.smsSender)
        : undefined;
    const notify = new NotifyService(pool, { email, sms }, log, clock);
    const patientSide = createPatientSide({
      pool,
      clock,
      episodes,
      notify,
      keyring: config.patient.messageKeys ? new EnvKeyring(config.patient.messageKeys) : undefined,
      publicUrl: config.patient.publicUrl,
      secureCookies: config.patient.publicUrl.startsWith('https://'),
      sharedThrottling: config.security.sharedThrottling,
    });
    if (!config.patient.messageKeys)
      log.warn({ code: 'MESSAGING_UNAVAILABLE' }, 'no message keys (VIGIL_MESSAGE_KEYS): messaging is off');
    const api = await buildApi({
      pool,
      timeseries,
      metrics,
      logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel,
      clock,
      episodes,
      rules,
      gatewayConfig,
      patientSide,
      web: config.web,
      egressProfile: config.profile,
      secretKey: config.security.secretKey,
      sharedThrottling: config.security.sharedThrottling,
      grafanaLogin:
        config.grafana.scopeKey && config.grafana.publicUrl
          ? { scopeKey: config.grafana.scopeKey, publicUrl: config.grafana.publicUrl }
          : undefined,
      edge: { bodyLimitBytes: config.http.bodyLimitBytes, requestTimeoutMs: config.http.requestTimeoutMs },
      ...(config.http.tls
        ? { tls: { cert: readFileSync(config.http.tls.certFile), key: readFileSync(config.http.tls.keyFile) } }
        : {}),
    });
    if (inProcess) {
      // the embedded broker keeps retained messages in memory only: publish the boxes' configs again
      const republished = await gatewayConfig.republishAll();
      if (republished) log.info({ gateways: republished }, 'gateway configs published again');
    }
    await api.listen({ host: config.http.host, port: config.http.port });
    stops.push(() => api.close());
    const addr = api.server.address();
    const httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
    const httpUrl = `${config.http.tls ? 'https' : 'http'}://${config.http.host}:${httpPort}`;
    if (opts.schedulers !== false) {
      // scheduled rules, re-notification, re-measure expiry; webhook delivery with retries
      rules.start();
      webhooks.start();
      const stopRetention = startRetentionJob(pool, config.retention, log);
      // the cohort board's monthly aggregates (migration 262)
      const stopCohortRefresh = startCohortRefresh(pool, log);
      if ((config.grafana.influxScopes || config.grafana.postgresScopes) && config.grafana.scopeKey) {
        // docs/security.md "Grafana": logins, projections, organisations, data sources
        const sync = () =>
          void syncGrafana(pool, timeseries.influx, config).then(
            (r) => log.debug({ professionals: r.professionals.length }, 'grafana scopes synced'),
            (e: unknown) =>
              log.warn(
                { code: 'GRAFANA_SCOPES_FAILED', err: e instanceof Error ? e.message : String(e) },
                'grafana scopes not synced',
              ),
          );
        sync();
        const timer = setInterval(sync, config.grafana.syncEveryMs);
        timer.unref();
        stops.push(() => {
          clearInterval(timer);
          return Promise.resolve();
        });
      }
      // over-the-air updates: offers follow the current rollout (hub/fleet/ota.ts)
      const { OtaCoordinator } = await import('./fleet/ota');
      const stopOta = new OtaCoordinator(pool, gatewayConfig, log).start(config.fleet.otaReconcileMs);
      stops.push(() => {
        stopOta();
        return Promise.resolve();
      });
      await notify.start(config.notify.pollMs);
      const reminders = setInterval(() => {
        patientSide.questionnaires.remindDue().then(
          (n) => (n ? notify.kick() : undefined),
          (e: unknown) =>
            log.warn({ code: 'REMINDERS_FAILED', err: String(e).slice(0, 200) }, 'questionnaire reminders failed'),
        );
        patientSide.accounts
          .purgeExpired()
          .catch((e: unknown) =>
            log.warn({ code: 'PURGE_FAILED', err: String(e).slice(0, 200) }, 'sign-in housekeeping failed'),
          );
      }, 60_000);
      stops.push(async () => {
        stopRetention();
        stopCohortRefresh();
        rules.stop();
        clearInterval(reminders);
        await notify.stop();
        await webhooks.stop();
      });
    }
    log.info({ httpUrl, mqttUrl }, 'hub started');
    return { config, pool, timeseries, metrics, log, mqttUrl, httpUrl, rules, webhooks, notify, patientSide, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
