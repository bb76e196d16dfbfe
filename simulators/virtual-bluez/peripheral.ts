import { EventEmitter } from 'node:events';
import { normalizeUuid } from '../../drivers/sdk/uuid';

/** org.bluez.GattCharacteristic1 "Flags" values (doc/org.bluez.GattCharacteristic.rst). */
export type CharacteristicFlag =
  | 'broadcast'
  | 'read'
  | 'write-without-response'
  | 'write'
  | 'notify'
  | 'indicate'
  | 'authenticated-signed-writes'
  | 'extended-properties'
  | 'reliable-write'
  | 'encrypt-read'
  | 'encrypt-write';

/** An ATT error a handler can raise (Core spec Vol 3 Part F 3.4.1.1; 0x80-0x9F application, 0xFC-0xFF profile). */
export class AttError extends Error {
  constructor(
    readonly attCode: number,
    message = `ATT error 0x${attCode.toString(16).padStart(2, '0')}`,
  ) {
    super(message);
    this.name = 'AttError';
  }
}

/** What a handler sees of the current connection. */
export interface PeripheralLink {
  readonly up: boolean;
  /** sends a notification/indication if the client subscribed; false when not subscribed or link down */
  notify(service: string, characteristic: string, value: Uint8Array): boolean;
  subscribed(service: string, characteristic: string): boolean;
  /** runs fn after ms while the link is up (cancelled on disconnect) */
  later(ms: number, fn: () => void): void;
  /** the peripheral drops the link (supervision timeout as seen by the central) */
  drop(): void;
}

export interface CharacteristicSpec {
  uuid: string;
  flags: CharacteristicFlag[];
  /** value returned by reads when there is no onRead */
  value?: Uint8Array;
  onRead?: (link: PeripheralLink) => Uint8Array | Promise<Uint8Array>;
  /** throw AttError to reject the write */
  onWrite?: (value: Uint8Array, link: PeripheralLink) => void | Promise<void>;
  /** CCCD enabled (StartNotify) */
  onSubscribe?: (link: PeripheralLink) => void;
  onUnsubscribe?: (link: PeripheralLink) => void;
}

export interface ServiceSpec {
  uuid: string;
  primary?: boolean;
  characteristics: CharacteristicSpec[];
}

export interface AdvertisementData {
  /** advertised service UUIDs (Device1.UUIDs) */
  serviceUuids?: string[];
  /** Device1.ServiceData, keyed by UUID */
  serviceData?: Record<string, Uint8Array>;
  /** Device1.ManufacturerData, keyed by company identifier */
  manufacturerData?: Record<number, Uint8Array>;
}

export interface PeripheralSpec {
  /** public or static random address, AA:BB:CC:DD:EE:FF */
  address: string;
  addressType?: 'public' | 'random';
  name?: string;
  rssi?: number;
  txPower?: number;
  /** false: advertisement only (broadcast scale); Connect fails */
  connectable?: boolean;
  /** bonded before the virtual BlueZ started: the Device1 object exists without discovery */
  paired?: boolean;
  /**
   * every characteristic needs an encrypted, bonded link (Omron-like cuffs): until Device1.Pair,
   * ReadValue/WriteValue/StartNotify fail as bluetoothd does for ATT 0x05 (NotPermitted "Not paired")
   */
  requiresBonding?: boolean;
  /**
   * how the device pairs (Core Vol 3 Part H 2.3.5.1): 'just-works' (no display, no keys: the
   * agent confirms) or 'passkey' (the device displays `passkey`, the central's agent enters it)
   */
  pairingMethod?: 'just-works' | 'passkey';
  /** the six-digit code the device displays while pairing (passkey entry) */
  passkey?: number;
  advertisement?: AdvertisementData;
  services?: ServiceSpec[];
  /** device clock: local time zone offset and error, see VirtualPeripheral.deviceTime() */
  utcOffsetMinutes?: number;
  clockOffsetMs?: number;
}

/** Misbehaviour on command. */
export interface Faults {
  /** Connect() fails with org.bluez.Error.<error>; `times` attempts (default: until cleared) */
  refuseConnect?: {
    error: 'Failed' | 'InProgress' | 'NotReady' | 'AuthenticationFailed' | 'ConnectionAttemptFailed';
    message?: string;
    times?: number;
  };
  /** Connect() never completes (the central's timeout must fire) */
  connectHang?: boolean;
  /** the link drops after this many more notifications/indications (mid-transfer) */
  dropLinkAfter?: number;
  /** notifications carry these bytes instead of the real value (true: de ad be ef) */
  garbage?: boolean | number[];
  /** Current Time writes are acknowledged but ignored (the clock stays wrong) */
  ignoreTimeWrite?: boolean;
  /** Device1.Pair fails with org.bluez.Error.<error> (default AuthenticationRejected); `times` attempts (default: until cleared) */
  refusePairing?: {
    error?: 'AuthenticationRejected' | 'AuthenticationFailed' | 'AuthenticationCanceled' | 'AuthenticationTimeout';
    times?: number;
  };
}

export interface WriteRecord {
  service: string;
  characteristic: string;
  value: Uint8Array;
  at: number;
}

export interface PeripheralEvents {
  advertisement: [];
  write: [WriteRecord];
  'drop-request': [];
  connected: [];
  disconnected: [];
}

/**
 * A virtual BLE peripheral: data (advertisement + GATT table) and handlers. Profile classes
 * (bp-cuff, glucose-meter, ...) extend it; tests use the generic class for ad-hoc tables.
 */
export class VirtualPeripheral extends EventEmitter<PeripheralEvents> {
  readonly address: string;
  readonly addressType: 'public' | 'random';
  name: string | undefined;
  rssi: number;
  txPower: number | undefined;
  connectable: boolean;
  /** the bond as the adapter holds it (Device1.Paired/Bonded) */
  paired: boolean;
  requiresBonding: boolean;
  pairingMethod: 'just-works' | 'passkey';
  passkey: number;
  /** the device forgot its keys (factory reset) while the adapter kept them: see forgetBond() */
  bondLost = false;
  inRange = true;
  advertisement: Required<AdvertisementData>;
  services: ServiceSpec[];
  faults: Faults = {};
  utcOffsetMinutes: number;
  /** device clock error: device local time = host time + zone offset + this */
  clockOffsetMs: number;
  readonly writes: WriteRecord[] = [];
  connected = false;

  constructor(spec: PeripheralSpec) {
    super();
    if (!/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i.test(spec.address)) throw new Error(`bad BLE address ${spec.address}`);
    this.address = spec.address.toUpperCase();
    this.addressType = spec.addressType ?? 'public';
    this.name = spec.name;
    this.rssi = spec.rssi ?? -60;
    this.txPower = spec.txPower;
    this.connectable = spec.connectable ?? true;
    this.paired = spec.paired ?? false;
    this.requiresBonding = spec.requiresBonding ?? false;
    this.pairingMethod = spec.pairingMethod ?? 'just-works';
    this.passkey = spec.passkey ?? 123456;
    this.advertisement = {
      serviceUuids: (spec.advertisement?.serviceUuids ?? []).map(normalizeUuid),
      serviceData: normalizeKeys(spec.advertisement?.serviceData ?? {}),
      manufacturerData: { ...(spec.advertisement?.manufacturerData ?? {}) },
    };
    this.services = spec.services ?? [];
    this.utcOffsetMinutes = spec.utcOffsetMinutes ?? 0;
    this.clockOffsetMs = spec.clockOffsetMs ?? 0;
  }

  /** updates what the device advertises; the virtual BlueZ reports it by PropertiesChanged */
  setAdvertisement(update: AdvertisementData & { rssi?: number; name?: string }): void {
    if (update.serviceUuids) this.advertisement.serviceUuids = update.serviceUuids.map(normalizeUuid);
    if (update.serviceData) this.advertisement.serviceData = normalizeKeys(update.serviceData);
    if (update.manufacturerData) this.advertisement.manufacturerData = { ...update.manufacturerData };
    if (update.rssi !== undefined) this.rssi = update.rssi;
    if (update.name !== undefined) this.name = update.name;
    this.emit('advertisement');
  }

  setInRange(inRange: boolean): void {
    this.inRange = inRange;
    if (!inRange && this.connected) this.dropLink();
    this.emit('advertisement');
  }

  /** merges faults; pass {} to clearFaults */
  fault(f: Faults): this {
    this.faults = { ...this.faults, ...f };
    return this;
  }

  clearFaults(): this {
    this.faults = {};
    return this;
  }

  /**
   * The device was reset: it lost the bond keys, the adapter still lists it as Paired. Encrypted
   * characteristics fail again until the adapter removes its stale bond (RemoveDevice) and pairs anew.
   */
  forgetBond(): this {
    this.bondLost = true;
    return this;
  }

  /** whether an encrypted characteristic is usable now */
  get linkSecure(): boolean {
    return !this.requiresBonding || (this.paired && !this.bondLost);
  }

  /** the link drops now (no Disconnect from the central) */
  dropLink(): void {
    this.emit('drop-request');
  }

  /** Device local time as a Date whose UTC fields are the wall clock the device shows. */
  deviceTime(hostNow = Date.now()): Date {
    return new Date(hostNow + this.utcOffsetMinutes * 60_000 + this.clockOffsetMs);
  }

  /** sets the device clock to a wall-clock time (a Date whose UTC fields are the local time) */
  setDeviceTime(local: Date, hostNow = Date.now()): void {
    this.clockOffsetMs = local.getTime() - hostNow - this.utcOffsetMinutes * 60_000;
  }

  /** called by the virtual BlueZ on (dis)connection; profiles override to reset transfer state */
  onConnected(_link: PeripheralLink): void {}
  onDisconnected(): void {}

  findCharacteristic(service: string, characteristic: string): CharacteristicSpec | undefined {
    const s = normalizeUuid(service);
    const c = normalizeUuid(characteristic);
    return this.services
      .find((x) => normalizeUuid(x.uuid) === s)
      ?.characteristics.find((x) => normalizeUuid(x.uuid) === c);
  }
}

function normalizeKeys(data: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(data)) out[normalizeUuid(k)] = v;
  return out;
}
