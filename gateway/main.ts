import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { builtinRegistry, loadDriversFromFolder, type DriverRegistry } from '../drivers';
import { BluezTransport } from './ble/bluez-transport';
import { createNobleTransport } from './ble/noble-transport';
import type { BleTransport } from './ble/transport';
import { ReadingBuffer } from './buffer/reading-buffer';
import type { GatewayConfig } from './config/schema';
import { DeviceManager } from './devices/device-manager';
import { writeFileSync } from 'node:fs';
import { applyRemoteConfig } from './config/remote-config';
import { PairingStore } from './pairing/pairing-store';
import { MqttUplink } from './uplink/mqtt-uplink';
import { RadioSupervisor } from './ble/radio-supervisor';
import { PasskeyRelay } from './pairing/passkey-relay';
import { errorCode, errorMessage } from '../contract/errors';
import { GATEWAY_VERSION } from './version';
import { OtaAgent } from './update/ota-agent';
import { UPDATE_EXIT_CODE } from './update/supervisor';
import { splitUpdateOffer } from './config/remote-config';

export interface RunningGateway {
  config: GatewayConfig;
  buffer: ReadingBuffer;
  uplink: MqttUplink;
  devices: DeviceManager;
  pairing: PairingStore;
  registry: DriverRegistry;
  radio: RadioSupervisor | undefined;
  passkeys: PasskeyRelay;
  ota: OtaAgent;
  log: Logger;
  stop(): Promise<void>;
}

/**
 * The configured BLE backend. noble is experimental: it passes the transport contract only
 * through its unit tests (test/unit/ble/noble-transport.test.ts), never against a real radio in CI.
 */
export function createTransport(config: GatewayConfig, log?: Logger): BleTransport {
  if (config.ble.backend === 'noble') {
    log?.warn(
      { code: 'BLE_BACKEND_EXPERIMENTAL', backend: 'noble' },
      'the noble backend is experimental (docs/configuration.md); bluez is the supported backend',
    );
    return createNobleTransport({ connectTimeoutMs: config.ble.connectTimeoutMs });
  }
  return new BluezTransport({
    adapter: config.ble.adapter,
    connectTimeoutMs: config.ble.connectTimeoutMs,
    settleMs: config.ble.settleMs,
    passkeyTimeoutMs: config.ble.passkeyTimeoutMs,
  });
}

export interface GatewayParts {
  /** a transport other than the configured backend (tests) */
  transport?: BleTransport;
  /**
   * the radio could not be recovered (RADIO_RECOVERY_FAILED); default: stop and exit with code 3
   * so that systemd (Restart=on-failure) starts the gateway again
   */
  onRadioFatal?: (code: string) => void;
  /** a verified release is staged and no device session runs; default: stop and exit UPDATE_EXIT_CODE */
  restartForUpdate?: () => void;
}

/**
 * Composition root of the gateway: config -> durable buffer -> drivers -> BLE transport ->
 * device manager (readings committed to the buffer) -> MQTT uplink (buffer -> hub, receipts).
 */
export async function startGateway(
  config: GatewayConfig,
  parts: GatewayParts = {},
  log: Logger = pino({ level: config.logLevel, base: { svc: 'gateway', gw: config.gatewayId } }),
): Promise<RunningGateway> {
  const dbPath = join(config.dataDir, 'buffer.sqlite');
  const buffer = new ReadingBuffer(dbPath, config.buffer);
  const pairing = new PairingStore(dbPath);
  let registry = builtinRegistry();
  if (config.devices.driversFolder) {
    const loaded = await loadDriversFromFolder(config.devices.driversFolder, registry);
    registry = loaded.registry;
    for (const e of loaded.errors) log.error({ code: e.code, err: e.message }, 'integrator driver rejected');
    log.info({ drivers: loaded.loaded.map((d) => d.definition.id) }, 'integrator drivers loaded');
  }
  // passkeys relayed from the hub for the pairing agent the device manager registers
  const passkeys = new PasskeyRelay();
  const transport = parts.transport ?? createTransport(config, log);

  let uplink: MqttUplink | undefined;
  const commit = (
    readings: Parameters<ReadingBuffer['enqueue']>[0],
    cursor?: Parameters<ReadingBuffer['enqueue']>[1],
  ) => {
    let added: number;
    try {
      added = buffer.enqueue(readings, cursor);
    } catch (e) {
      // disk full: nothing was committed and no cursor moved; the device keeps its records
      // (RACP) and the heartbeat carries BUFFER_DISK_FULL. The gateway keeps running.
      log.error(
        {
          code: errorCode(e) ?? 'BUFFER_WRITE_FAILED',
          readings: readings.length,
          err: errorMessage(e),
        },
        'readings not committed',
      );
      uplink?.alarmChanged();
      throw e;
    }
    if (added) uplink?.kick();
  };
  const devices = new DeviceManager(
    transport,
    registry,
    commit,
    {
      gatewayId: config.gatewayId,
      timeZone: config.timeZone,
      allow: config.devices.allow,
      connectTimeoutMs: config.ble.connectTimeoutMs,
      idleDisconnectMs: config.ble.idleDisconnectMs,
      backoffInitialMs: config.ble.backoffInitialMs,
      backoffMaxMs: config.ble.backoffMaxMs,
      cooldownMs: config.ble.cooldownMs,
      pairing,
      pairingMinRssi: config.pairing.minRssi,
      cursor: (key) => buffer.cursor(key),
      maxSessions: config.ble.maxSessions,
      advertFreshMs: config.ble.advertFreshMs,
      connectAttempts: config.ble.connectAttempts,
      state: pairing,
      passkey: (address, timeoutMs) => passkeys.wait(address, timeoutMs),
    },
    log,
  );
  const offerPasskey = (p: GatewayConfig['pairing']['passkey']) => {
    if (p) passkeys.offer(p.address, Number(p.passkey), Date.parse(p.until));
  };
  offerPasskey(config.pairing.passkey);
  let current = config;
  const gateway: { stop?: () => Promise<void> } = {};
  const ota = new OtaAgent({
    config,
    log,
    root: process.env.VIGIL_GATEWAY_SUPERVISED ? process.env.VIGIL_GATEWAY_ROOT : undefined,
    quiesce: () => devices.quiesce(),
    resume: () => devices.resume(),
    changed: () => uplink?.heartbeat(),
    restartForUpdate:
      parts.restartForUpdate ??
      (() => {
        // the supervisor (gateway/update/supervisor.ts) switches `current` and starts the new release
        const exit = () => process.exit(UPDATE_EXIT_CODE);
        setTimeout(exit, 10_000).unref();
        void (gateway.stop?.() ?? Promise.resolve()).finally(exit);
      }),
  });
  const onConfig = (received: Buffer) => {
    // the update offer is a command for the agent, not a setting merged into the config
    const split = splitUpdateOffer(received);
    if (split.ok) ota.offer(split.offer);
    const payload = split.ok ? split.rest : received;
    const r = applyRemoteConfig(current, payload);
    if (!r.ok) {
      log.error({ code: r.code, problems: r.message }, 'remote config rejected; the running config is kept');
      return;
    }
    current = r.config;
    // live: allow-list, pairing window and threshold, log level; the rest at the next start
    for (const a of r.config.devices.allow) devices.allowDevice(a, 'hub');
    if (r.config.pairing.openUntil) pairing.openWindow(Date.parse(r.config.pairing.openUntil), 'hub');
    if (r.changed.some((c) => c.startsWith('pairing.passkey'))) offerPasskey(r.config.pairing.passkey);
    devices.setPairingMinRssi(r.config.pairing.minRssi);
    devices.refreshPairing();
    if (r.changed.includes('logLevel')) log.level = r.config.logLevel;
    try {
      writeFileSync(join(config.dataDir, 'remote-config.json'), payload);
    } catch (e) {
      log.warn({ code: 'REMOTE_CONFIG_NOT_SAVED', err: (e as Error).message }, 'remote config applied but not saved');
    }
    log.info({ code: 'REMOTE_CONFIG_APPLIED', changed: r.changed }, 'remote config applied');
  };
  uplink = new MqttUplink(
    config,
    buffer,
    log,
    {
      onConfig,
      heartbeat: () => ({
        ...(ota.report() ? { update: ota.report() } : {}),
        adapter: transport.adapterState(),
        ...(radio ? { radio: radio.health } : {}),
        devices: [...devices.devices.values()].map((d) => ({
          key: d.address,
          lastSeenAt: d.lastSeenAt?.toISOString() ?? null,
          battery: d.battery ?? null,
          rssi: d.rssi ?? null,
        })),
      }),
    },
    GATEWAY_VERSION,
  );
  if (config.pairing.openUntil) pairing.openWindow(Date.parse(config.pairing.openUntil), 'config');
  devices.refreshPairing();
  // the CLI (`vigil-gateway pair`) opens windows and pairs devices from another process: poll
  const pairingPoll = setInterval(() => devices.refreshPairing(), 1_000);
  // age bound of the buffer policy (gateway/buffer/reading-buffer.ts BufferLimits)
  const prune = () => {
    const n = buffer.pruneAged();
    if (n)
      log.warn(
        { code: 'QUEUE_AGED_OUT', dropped: n, maxAgeDays: config.buffer.maxAgeDays },
        'readings older than the buffer age limit dropped',
      );
  };
  prune();
  const pruneTimer = setInterval(prune, 3_600_000);
  const onRadioFatal =
    parts.onRadioFatal ??
    (() => {
      // the radio is not coming back in this process: let systemd start a fresh one
      const exit = () => process.exit(3);
      setTimeout(exit, 5_000).unref();
      void (gateway.stop?.() ?? Promise.resolve()).finally(exit);
    });
  const radio = transport.onRadioEvent
    ? new RadioSupervisor(transport, () => devices.restartRadio(), log, {
        recoveryDeadlineMs: config.ble.radioRecoveryDeadlineMs,
        onFatal: onRadioFatal,
        // the hub hears a deaf (or recovered) radio now, not at the next periodic heartbeat:
        // alarmChanged() only sends when the buffer alarm changed (test/e2e/gateway-heartbeat-radio.test.ts)
        onHealth: () => {
          uplink.heartbeat();
        },
      })
    : undefined;
  // the uplink starts first: buffered readings from before a power cut leave at once
  uplink.start();
  radio?.start();
  try {
    await devices.start();
  } catch (e) {
    // no adapter (yet): keep forwarding the buffer; the radio supervisor retries the device side
    log.error(
      { code: (e as { code?: string }).code ?? 'BLE_START_FAILED', err: (e as Error).message },
      'BLE not available',
    );
    void radio?.trigger('RADIO_START_FAILED');
  }
  log.info({ paired: pairing.list().length, backend: transport.backend }, 'gateway started');
  const running: RunningGateway = {
    config,
    buffer,
    uplink,
    devices,
    pairing,
    registry,
    radio,
    passkeys,
    ota,
    log,
    stop: () =>
      (stopped ??= (async () => {
        radio?.stop();
        clearInterval(pairingPoll);
        clearInterval(pruneTimer);
        await devices.stop();
        await uplink.stop();
        pairing.close();
        buffer.close();
      })()),
  };
  let stopped: Promise<void> | undefined;
  gateway.stop = () => running.stop();
  return running;
}
