import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFromEnv, deepMerge, formatConfigIssues, readConfigFile } from '../../contract/config-env';
import { gatewayConfigSchema, type GatewayConfig, type GatewayConfigInput } from './schema';

/** Environment variables understood by the gateway, mapped onto the config tree. */
export const GATEWAY_ENV = {
  VIGIL_GATEWAY_ID: 'gatewayId',
  VIGIL_GATEWAY_DATA_DIR: 'dataDir',
  VIGIL_GATEWAY_TZ: 'timeZone',
  VIGIL_GATEWAY_MQTT_URL: 'mqtt.url',
  VIGIL_GATEWAY_PASSWORD: 'mqtt.password',
  VIGIL_GATEWAY_BATCH_SIZE: 'mqtt.batchSize:number',
  VIGIL_GATEWAY_RECEIPT_TIMEOUT_MS: 'mqtt.receiptTimeoutMs:number',
  VIGIL_GATEWAY_HEARTBEAT_MS: 'mqtt.heartbeatIntervalMs:number',
  VIGIL_BLE_BACKEND: 'ble.backend',
  VIGIL_BLE_ADAPTER: 'ble.adapter',
  VIGIL_GATEWAY_DEVICES: 'devices.allow:list',
  VIGIL_GATEWAY_DRIVERS_FOLDER: 'devices.driversFolder',
  VIGIL_LOG_LEVEL: 'logLevel',
  VIGIL_GATEWAY_MQTT_CA_FILE: 'mqtt.caFile',
  VIGIL_GATEWAY_INSECURE: 'insecure:boolean',
} as const;

export class GatewayConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

export const DEFAULT_DATA_DIR = '/var/lib/vigil-gateway';
/** written by the enrollment exchange: { gatewayId, mqtt: { url, password } } */
export const CREDENTIALS_FILE = 'credentials.json';
/** the last remote config the hub sent (retained config topic), applied at start */
export const REMOTE_CONFIG_FILE = 'remote-config.json';

const readJson = (path: string): Record<string, unknown> =>
  existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : {};

/**
 * The unvalidated config tree: file (YAML or JSON) < enrollment credentials < last remote config
 * < environment < overrides.
 */
export function gatewayConfigInput(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<GatewayConfigInput> } = {},
): Record<string, unknown> {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = opts.file
    ? readConfigFile(opts.file, (m) => new GatewayConfigError(`gateway configuration ${m}`))
    : {};
  const fileDataDir = typeof fromFile.dataDir === 'string' ? fromFile.dataDir : undefined;
  const dataDir = env.VIGIL_GATEWAY_DATA_DIR || (opts.overrides?.dataDir ?? fileDataDir ?? DEFAULT_DATA_DIR);
  try {
    fromFile = deepMerge(
      deepMerge(fromFile, readJson(join(dataDir, CREDENTIALS_FILE))),
      readJson(join(dataDir, REMOTE_CONFIG_FILE)),
    );
  } catch (e) {
    throw new GatewayConfigError(`state file in ${dataDir} unreadable: ${(e as Error).message}`);
  }
  const listVars = Object.entries(GATEWAY_ENV).filter(([, t]) => t.endsWith(':list'));
  const scalar = Object.fromEntries(Object.entries(GATEWAY_ENV).filter(([, t]) => !t.endsWith(':list')));
  let merged = deepMerge(fromFile, configFromEnv(scalar, env));
  for (const [name, target] of listVars) {
    const raw = env[name];
    if (!raw) continue;
    const path = target.replace(/:list$/, '').split('.');
    const leaf = path.pop() ?? target;
    const tree: Record<string, unknown> = {};
    let node = tree;
    for (const k of path) node = node[k] = {};
    node[leaf] = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    merged = deepMerge(merged, tree);
  }
  return deepMerge(merged, opts.overrides ?? {});
}

/** gatewayConfigInput validated; every problem reported at once. */
export function loadGatewayConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<GatewayConfigInput> } = {},
): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(gatewayConfigInput(opts));
  if (!parsed.success) throw new GatewayConfigError(`gateway configuration:\n${formatConfigIssues(parsed.error)}`);
  return parsed.data;
}
