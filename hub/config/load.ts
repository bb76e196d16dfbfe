import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { hubConfigSchema, type HubConfig, type HubConfigInput } from './schema';
import { configFromEnv, formatConfigIssues, deepMerge } from '../../contract/config-env';

/** Environment variables understood by the hub, mapped onto the config tree. */
export const HUB_ENV = {
  VIGIL_HUB_INSTANCE_ID: 'instanceId',
  VIGIL_PG_URL: 'postgres.url',
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
} as const;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** File (YAML or JSON) < environment < overrides; every problem reported at once. */
export function loadHubConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: HubConfigInput } = {},
): HubConfig {
  const fromFile: unknown = opts.file ? (YAML.parse(readFileSync(opts.file, 'utf8')) ?? {}) : {};
  const merged = deepMerge(
    deepMerge({ postgres: {}, influx: {}, mqtt: {}, http: {} }, fromFile),
    configFromEnv(HUB_ENV, opts.env ?? process.env),
  );
  const parsed = hubConfigSchema.safeParse(deepMerge(merged, opts.overrides ?? {}));
  if (!parsed.success) throw new ConfigError(`CONFIG_INVALID: hub configuration:\n${formatConfigIssues(parsed.error)}`);
  if (parsed.data.mqtt.mode === 'external' && !parsed.data.mqtt.url) {
    throw new ConfigError(
      'CONFIG_INVALID: hub configuration:\n  mqtt.url: required when mqtt.mode is external (VIGIL_MQTT_URL)',
    );
  }
  return parsed.data;
}
