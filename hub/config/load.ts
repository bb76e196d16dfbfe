import { hubConfigSchema, type HubConfig, type HubConfigInput } from './schema';
import { configFromEnv, formatConfigIssues, deepMerge, readConfigFile } from '../../contract/config-env';

/** Environment variables understood by the hub, mapped onto the config tree. */
export const HUB_ENV = {
  VIGIL_HUB_INSTANCE_ID: 'instanceId',
  VIGIL_PG_URL: 'postgres.url',
  VIGIL_PG_POOL_SIZE: 'postgres.poolSize:number',
  VIGIL_PG_CREATE_DATABASE: 'postgres.createDatabase:boolean',
  VIGIL_INFLUX_URL: 'influx.url',
  VIGIL_INFLUX_DATABASE: 'influx.database',
  VIGIL_INFLUX_USERNAME: 'influx.username',
  VIGIL_INFLUX_PASSWORD: 'influx.password',
  VIGIL_MQTT_MODE: 'mqtt.mode',
  VIGIL_MQTT_HOST: 'mqtt.host',
  VIGIL_MQTT_PORT: 'mqtt.port:number',
  VIGIL_MQTT_URL: 'mqtt.url',
  VIGIL_MQTT_USERNAME: 'mqtt.username',
  VIGIL_MQTT_PASSWORD: 'mqtt.password',
  VIGIL_MQTT_SHARED_GROUP: 'mqtt.sharedGroup',
  VIGIL_MQTT_INGEST_CONNECTIONS: 'mqtt.ingestConnections:number',
  VIGIL_MQTT_GATEWAY_RATE: 'mqtt.gatewayRateLimit.messagesPerSecond:number',
  VIGIL_MQTT_GATEWAY_BURST: 'mqtt.gatewayRateLimit.burst:number',
  VIGIL_MQTT_EDGE_MAX_PENDING_PER_ADDRESS: 'mqtt.edge.maxPendingPerAddress:number',
  VIGIL_MQTT_EDGE_LISTEN_BACKLOG: 'mqtt.edge.listenBacklog:number',
  VIGIL_MQTT_EDGE_ACCEPTORS: 'mqtt.edge.acceptors:number',
  VIGIL_INFLUX_BATCH_MAX_POINTS: 'influx.batch.maxPoints:number',
  VIGIL_INFLUX_FLUSH_INTERVAL_MS: 'influx.batch.flushIntervalMs:number',
  VIGIL_INFLUX_RETRY_MAX_DELAY_MS: 'influx.retry.maxDelayMs:number',
  VIGIL_INFLUX_MANAGE_SCHEMA: 'influx.manageSchema',
  VIGIL_INFLUX_RAW_RETENTION: 'influx.rawRetention',
  VIGIL_INFLUX_DAILY_RETENTION: 'influx.dailyRetention',
  VIGIL_INFLUX_HOURLY_RETENTION: 'influx.hourlyRetention',
  VIGIL_HTTP_HOST: 'http.host',
  VIGIL_HTTP_PORT: 'http.port:number',
  VIGIL_WEB_IDLE_TIMEOUT_MINUTES: 'web.idleTimeoutMinutes:number',
  VIGIL_WEB_SECURE_COOKIES: 'web.secureCookies',
  VIGIL_WEB_GRAFANA_URL: 'web.grafanaUrl',
  VIGIL_WEB_OIDC_ISSUER: 'web.oidc.issuer',
  VIGIL_WEB_OIDC_CLIENT_ID: 'web.oidc.clientId',
  VIGIL_WEB_OIDC_CLIENT_SECRET: 'web.oidc.clientSecret',
  VIGIL_WEB_OIDC_REDIRECT_URI: 'web.oidc.redirectUri',
  VIGIL_WEB_OIDC_LABEL: 'web.oidc.label',
  VIGIL_LOG_LEVEL: 'logLevel',
  VIGIL_PROFILE: 'profile',
  VIGIL_SECRET_KEY: 'security.secretKey',
  VIGIL_SHARED_THROTTLING: 'security.sharedThrottling:boolean',
  VIGIL_GRAFANA_INFLUX_SCOPES: 'grafana.influxScopes:boolean',
  VIGIL_GRAFANA_SCOPE_KEY: 'grafana.scopeKey',
  VIGIL_GRAFANA_SCOPE_SYNC_MS: 'grafana.syncEveryMs:number',
  VIGIL_GRAFANA_PG_SCOPES: 'grafana.postgresScopes:boolean',
  VIGIL_GRAFANA_PG_ROLE_ADMIN_URL: 'grafana.postgresRoleAdminUrl',
  VIGIL_GRAFANA_URL: 'grafana.url',
  VIGIL_GRAFANA_PUBLIC_URL: 'grafana.publicUrl',
  VIGIL_GRAFANA_ADMIN_USER: 'grafana.adminUser',
  VIGIL_GRAFANA_ADMIN_PASSWORD: 'grafana.adminPassword',
  VIGIL_GRAFANA_PROVISIONING_DIR: 'grafana.provisioningDir',
  VIGIL_GRAFANA_PG_HOST: 'grafana.postgresHost',
  VIGIL_GRAFANA_PG_SSLMODE: 'grafana.postgresSslMode',
  VIGIL_GRAFANA_INFLUX_URL: 'grafana.influxUrl',
  VIGIL_OTA_RECONCILE_MS: 'fleet.otaReconcileMs:number',
  VIGIL_MQTT_INSECURE: 'mqtt.insecure:boolean',
  VIGIL_MQTT_PLAIN: 'mqtt.plain:boolean',
  VIGIL_MQTT_TLS_HOST: 'mqtt.tls.host',
  VIGIL_MQTT_TLS_PORT: 'mqtt.tls.port:number',
  VIGIL_MQTT_TLS_CERT_FILE: 'mqtt.tls.certFile',
  VIGIL_MQTT_TLS_KEY_FILE: 'mqtt.tls.keyFile',
  VIGIL_HTTP_INSECURE: 'http.insecure:boolean',
  VIGIL_HTTP_TLS_CERT_FILE: 'http.tls.certFile',
  VIGIL_HTTP_TLS_KEY_FILE: 'http.tls.keyFile',
  VIGIL_PUBLIC_URL: 'patient.publicUrl',
  VIGIL_MESSAGE_KEYS: 'patient.messageKeys',
  VIGIL_SMTP_URL: 'notify.smtpUrl',
  VIGIL_MAIL_FROM: 'notify.mailFrom',
  VIGIL_SMS_URL: 'notify.smsUrl',
  VIGIL_SMS_TOKEN: 'notify.smsToken',
  VIGIL_SMS_SENDER: 'notify.smsSender',
} as const;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** File (YAML or JSON) < environment < overrides; every problem reported at once. */
export function loadHubConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: HubConfigInput } = {},
): HubConfig {
  const fromFile = opts.file ? readConfigFile(opts.file, (m) => new ConfigError(`hub configuration ${m}`)) : {};
  const merged = deepMerge(
    deepMerge({ postgres: {}, influx: {}, mqtt: {}, http: {} }, fromFile),
    configFromEnv(HUB_ENV, opts.env ?? process.env),
  );
  const parsed = hubConfigSchema.safeParse(deepMerge(merged, opts.overrides ?? {}));
  if (!parsed.success) throw new ConfigError(`hub configuration:\n${formatConfigIssues(parsed.error)}`);
  if (parsed.data.mqtt.mode === 'external' && !parsed.data.mqtt.url) {
    throw new ConfigError('hub configuration:\n  mqtt.url: required when mqtt.mode is external (VIGIL_MQTT_URL)');
  }
  if (parsed.data.grafana.influxScopes && !parsed.data.grafana.scopeKey)
    throw new ConfigError(
      'CONFIG_INVALID: hub configuration:\n  grafana.scopeKey: required when grafana.influxScopes is on (VIGIL_GRAFANA_SCOPE_KEY)',
    );
  const insecure = plaintextOutsideLoopback(parsed.data);
  if (insecure.length)
    throw new ConfigError(`CONFIG_INVALID: hub configuration:\n${insecure.map((m) => `  ${m}`).join('\n')}`);
  return parsed.data;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * TLS by default outside loopback (docs/security.md "TLS"): production refuses clear listeners
 * elsewhere, and the example secrets of .env.example (change-me-*).
 */
export function plaintextOutsideLoopback(c: HubConfig): string[] {
  if (c.profile !== 'production') return [];
  const out: string[] = [];
  const example = (v: string | undefined) => v !== undefined && /^change-me/i.test(decodeURIComponent(v));
  const secrets: [string, string | undefined][] = [
    ['mqtt.password', c.mqtt.password],
    ['influx.password', c.influx.password],
    ['postgres.url', URL.canParse(c.postgres.url) ? new URL(c.postgres.url).password : undefined],
    ['grafana.scopeKey', c.grafana.scopeKey],
    ['security.secretKey', c.security.secretKey],
  ];
  for (const [path, value] of secrets)
    if (example(value)) out.push(`${path}: still the example secret (change-me-*); set a real one`);
  if (c.mqtt.mode === 'embedded' && c.mqtt.plain && !isLoopback(c.mqtt.host) && !c.mqtt.insecure)
    out.push(
      `mqtt.host: plain MQTT on ${c.mqtt.host} in production; configure mqtt.tls and mqtt.plain=false, listen on loopback, or set mqtt.insecure (VIGIL_MQTT_INSECURE)`,
    );
  if (!c.http.tls && !isLoopback(c.http.host) && !c.http.insecure)
    out.push(
      `http.host: plain HTTP on ${c.http.host} in production; configure http.tls, listen on loopback behind a TLS proxy, or set http.insecure (VIGIL_HTTP_INSECURE)`,
    );
  return out;
}
