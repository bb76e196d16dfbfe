import type { Advertisement } from '../../drivers/sdk/definition';
import type { AgentPolicy } from './pairing-agent';

/**
 * The gateway's view of a BLE stack. Backends: BlueZ over D-Bus via node-ble (default on Linux),
 * noble over HCI (other platforms, USB dongles), and the in-process simulator for unit tests.
 * Every backend passes the same contract suite (test/contract/ble-transport.contract.ts).
 * UUIDs are given in normalised form (drivers/sdk/uuid.ts): '2a35' or full 128-bit for vendor ones.
 */
export interface BleTransport {
  readonly backend: 'bluez' | 'noble' | 'simulated';
  /** powers the adapter on; rejects with a BleError when no adapter is usable */
  start(): Promise<void>;
  stop(): Promise<void>;
  adapterState(): 'powered' | 'off' | 'absent' | 'error';
  /** starts discovery; advertisements (with service and manufacturer data) are reported as they change */
  startScan(onAdvertisement: (adv: Advertisement) => void): Promise<void>;
  stopScan(): Promise<void>;
  /**
   * connects to a device the adapter knows (heard while scanning, or bonded); otherwise NOT_FOUND.
   * Fails with CONNECT_TIMEOUT after timeoutMs, cancelling the attempt.
   */
  connect(address: string, opts?: { timeoutMs?: number }): Promise<BleConnection>;
  /**
   * Bonds with a device the adapter knows (pairing + key distribution, Core Vol 3 Part H 2.1).
   * Idempotent: an existing bond is kept and this resolves at once. `replace`: the device lost its
   * keys (reset) while the adapter kept them: the stale bond is removed first, then a new one made.
   * Just Works and passkey entry go through the gateway's pairing agent (gateway/ble/pairing-agent.ts).
   * Fails with AUTH_FAILED (refused, cancelled, timed out), IN_PROGRESS, NOT_FOUND, FAILED, or
   * NOT_SUPPORTED on a backend that cannot bond. Optional: a backend without it cannot bond.
   */
  pair?(address: string, opts?: { timeoutMs?: number; replace?: boolean }): Promise<void>;
  /** whether the adapter holds a bond with the device (false when it does not know the device) */
  isBonded?(address: string): Promise<boolean>;
  /** the pairing agent answering bluetoothd's questions while bonding; set before start() */
  setPairingAgent?(policy: AgentPolicy): void;
  /** radio events: the radio supervisor (gateway/ble/radio-supervisor.ts) recovers from them */
  onRadioEvent?(listener: (e: RadioEvent) => void): void;
  /** discovery off while a connection is made (single-radio adapters); nested calls counted */
  pauseDiscovery?(): Promise<void>;
  resumeDiscovery?(): Promise<void>;
}

/**
 * What can happen to the radio under the gateway: the adapter unplugged or re-plugged, powered
 * off or on (rfkill, another client), bluetoothd leaving the bus (crash, restart) or a new
 * bluetoothd owning it. After any of these, discovery is off and the agent unknown.
 */
export type RadioEvent =
  | 'adapter-lost'
  | 'adapter-added'
  | 'adapter-off'
  | 'adapter-on'
  | 'bluetoothd-gone'
  | 'bluetoothd-restarted'
  /** our D-Bus connection failed (daemon limits, socket error) */
  | 'bus-error';

export interface BleConnection {
  readonly address: string;
  has(service: string, characteristic: string): Promise<boolean>;
  read(service: string, characteristic: string): Promise<Uint8Array>;
  write(service: string, characteristic: string, value: Uint8Array): Promise<void>;
  /** StartNotify (notifications or indications); resolves to an unsubscribe function */
  subscribe(
    service: string,
    characteristic: string,
    onValue: (value: Uint8Array) => void,
  ): Promise<() => Promise<void>>;
  /** runs once when the link ends, whoever ended it; afterwards every call fails with DISCONNECTED */
  onDisconnect(listener: () => void): void;
  disconnect(): Promise<void>;
}

/** Stable BLE error codes, mapped from BlueZ (org.bluez.Error.*) and noble errors. */
export type BleErrorCode =
  | 'ADAPTER_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'CONNECT_TIMEOUT'
  | 'IN_PROGRESS'
  | 'DISCONNECTED'
  | 'NOT_SUPPORTED'
  | 'AUTH_FAILED'
  /** a read/write/subscribe needs an encrypted, bonded link (ATT 0x05/0x0F/0x0C): bond first */
  | 'NOT_BONDED'
  | 'FAILED';

export class BleError extends Error {
  constructor(
    readonly code: BleErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'BleError';
  }
}
