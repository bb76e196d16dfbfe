import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import type { VirtualBluezHandle } from '../../simulators/virtual-bluez';
import type { TestPostgres } from '../support/stores';

/**
 * What the end-to-end tests that run a hub and gateway processes share: the hub (in this process,
 * or as a process), and a gateway process configured by file or by environment with the quick
 * BLE timings of a test bench.
 */
export { freePort } from '../fault/support';

export interface TestStores {
  pg: Pick<TestPostgres, 'url'>;
  influx: { url: string; database: string };
}

/** The hub in this process on the test stores: embedded broker on `mqttPort` (so a restart keeps it), HTTP on a free port. */
export function startTestHub(s: TestStores & { mqttPort: number }): Promise<RunningHub> {
  return startHub(
    loadHubConfig({
      env: {},
      overrides: {
        postgres: { url: s.pg.url },
        influx: { url: s.influx.url, database: s.influx.database },
        mqtt: { host: '127.0.0.1', port: s.mqttPort },
        http: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
      },
    }),
  );
}

/** The environment of a hub process (hub/cli.ts or dist/hub.mjs) on the test stores; MQTT and HTTP on free ports. */
export function hubProcessEnv(instanceId: string, s: TestStores): NodeJS.ProcessEnv {
  return {
    VIGIL_HUB_INSTANCE_ID: instanceId,
    VIGIL_PG_URL: s.pg.url,
    VIGIL_INFLUX_URL: s.influx.url,
    VIGIL_INFLUX_DATABASE: s.influx.database,
    VIGIL_MQTT_HOST: '127.0.0.1',
    VIGIL_MQTT_PORT: '0',
    VIGIL_HTTP_PORT: '0',
    VIGIL_LOG_LEVEL: 'warn',
  };
}

/** BLE timings of a bench: short idle, backoff and cooldown so that sessions follow each other quickly */
export const QUICK_BLE = {
  connectTimeoutMs: 5_000,
  idleDisconnectMs: 400,
  backoffInitialMs: 100,
  backoffMaxMs: 500,
  cooldownMs: 300,
} as const;

/** Writes `<dir>/gateway.yaml` (UTC, QUICK_BLE, data under `<dir>/data`) and returns its path. */
export function writeGatewayConfig(
  dir: string,
  c: {
    gatewayId: string;
    mqttUrl: string;
    password: string;
    allow: readonly string[];
    logLevel?: string;
    mqtt?: Record<string, unknown>;
    ble?: Record<string, unknown>;
  },
): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      gatewayId: c.gatewayId,
      dataDir: join(dir, 'data'),
      timeZone: 'UTC',
      logLevel: c.logLevel ?? 'error',
      mqtt: { url: c.mqttUrl, password: c.password, ...c.mqtt },
      ble: { ...QUICK_BLE, ...c.ble },
      devices: { allow: c.allow },
    }),
  );
  return file;
}

/** A gateway process (gateway/cli.ts) reading `config`, on the virtual BlueZ `vb`. */
export function startGatewayProcess(config: string, vb: VirtualBluezHandle): Promise<ServiceProcess> {
  return startService('gateway', 'gateway/cli.ts', {
    args: ['--config', config],
    readyEvent: 'gateway.ready',
    env: vb.env,
  });
}

/** The environment of a gateway configured by variables only (as the compiled bundle is run on a box). */
export function gatewayProcessEnv(g: {
  vb: VirtualBluezHandle;
  gatewayId: string;
  dataDir: string;
  mqttUrl: string;
  password: string;
  devices: string;
}): NodeJS.ProcessEnv {
  return {
    ...g.vb.env,
    VIGIL_GATEWAY_ID: g.gatewayId,
    VIGIL_GATEWAY_DATA_DIR: g.dataDir,
    VIGIL_GATEWAY_TZ: 'UTC',
    VIGIL_GATEWAY_MQTT_URL: g.mqttUrl,
    VIGIL_GATEWAY_PASSWORD: g.password,
    VIGIL_GATEWAY_DEVICES: g.devices,
    VIGIL_GATEWAY_HEARTBEAT_MS: '1000',
    VIGIL_LOG_LEVEL: 'warn',
  };
}

/** Stops what a test started, in order: the gateway, the radio, the hub, then the stores and the folder. */
export async function stopAll(s: {
  gateway?: { stop(): Promise<unknown> } | undefined;
  vb?: { stop(): Promise<unknown> } | undefined;
  hub?: { stop(): Promise<unknown> } | undefined;
  stores: readonly ({ drop(): Promise<unknown> } | undefined)[];
  dir?: string | undefined;
}): Promise<void> {
  await s.gateway?.stop();
  await s.vb?.stop();
  await s.hub?.stop();
  await Promise.all(s.stores.map((d) => d?.drop() ?? Promise.resolve()));
  if (s.dir) rmSync(s.dir, { recursive: true, force: true });
}
