import type { Advertisement } from '../../drivers/sdk/definition';
import { normalizeUuid } from '../../drivers/sdk/uuid';
import { BleError, type BleConnection, type BleErrorCode, type BleTransport } from './transport';

/**
 * BleTransport on @abandonware/noble (raw HCI socket: other platforms, USB dongles). noble is an
 * optional dependency that opens the HCI socket as soon as it is loaded, so it is imported lazily
 * in start(); a missing module or socket (EAFNOSUPPORT, EPERM, no adapter) is ADAPTER_UNAVAILABLE.
 */
type NobleModule = typeof import('@abandonware/noble');
type NoblePeripheral = import('@abandonware/noble').Peripheral;
type NobleCharacteristic = import('@abandonware/noble').Characteristic;

export interface NobleTransportOptions {
  connectTimeoutMs?: number;
  /** how long start() waits for noble's "poweredOn" */
  startTimeoutMs?: number;
  /** module loader, for tests; default: import('@abandonware/noble') */
  load?: () => Promise<unknown>;
}

/** noble's UUIDs are lower-case hex without dashes */
function fromNobleUuid(u: string): string {
  const h = u.toLowerCase().replace(/-/g, '');
  if (h.length === 32)
    return normalizeUuid(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
  return normalizeUuid(h);
}
const toNobleUuid = (u: string) => normalizeUuid(u).replace(/-/g, '');

function mapNobleError(e: unknown, fallback: BleErrorCode = 'FAILED'): BleError {
  if (e instanceof BleError) return e;
  const text = e instanceof Error ? e.message : String(e);
  if (
    /EAFNOSUPPORT|EPERM|EACCES|ENODEV|No compatible USB|poweredOff|unsupported|unauthorized|Cannot find (module|package)/i.test(
      text,
    )
  )
    return new BleError('ADAPTER_UNAVAILABLE', text);
  if (/disconnect/i.test(text)) return new BleError('DISCONNECTED', text);
  // ATT Insufficient Authentication/Encryption (Core Vol 3 Part F 3.4.1.1): the link needs a bond
  if (/insufficient (authentication|encryption)/i.test(text)) return new BleError('NOT_BONDED', text);
  if (/auth|encrypt/i.test(text)) return new BleError('AUTH_FAILED', text);
  return new BleError(fallback, text);
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => BleError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(onTimeout()), ms))),
  ]).finally(() => clearTimeout(timer));
}

export class NobleTransport implements BleTransport {
  readonly backend = 'noble' as const;
  private noble: NobleModule | undefined;
  private state: 'powered' | 'off' | 'absent' | 'error' = 'absent';
  private readonly peripherals = new Map<string, NoblePeripheral>();
  private onAdv: ((adv: Advertisement) => void) | undefined;

  constructor(private readonly opts: NobleTransportOptions = {}) {}

  async start(): Promise<void> {
    if (this.noble) return;
    let noble: NobleModule;
    try {
      const mod = (await (this.opts.load ?? (() => import('@abandonware/noble')))()) as {
        default?: NobleModule;
      } & NobleModule;
      noble = mod.default ?? mod;
    } catch (e) {
      this.state = 'absent';
      throw new BleError(
        'ADAPTER_UNAVAILABLE',
        `noble cannot open the HCI adapter: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const ms = this.opts.startTimeoutMs ?? 5000;
    if (noble._state !== 'poweredOn') {
      try {
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            const onState = (s: string) => {
              if (s === 'poweredOn') resolve();
              else if (s === 'unsupported' || s === 'unauthorized') reject(new Error(`adapter ${s}`));
            };
            noble.on('stateChange', onState);
          }),
          ms,
          () =>
            new BleError('ADAPTER_UNAVAILABLE', `noble adapter not powered on within ${ms} ms (state ${noble._state})`),
        );
      } catch (e) {
        noble.removeAllListeners('stateChange');
        this.state = noble._state === 'poweredOff' ? 'off' : 'absent';
        throw mapNobleError(e, 'ADAPTER_UNAVAILABLE');
      }
    }
    this.noble = noble;
    this.state = 'powered';
    noble.on('stateChange', (s: string) => {
      this.state = s === 'poweredOn' ? 'powered' : s === 'poweredOff' ? 'off' : 'error';
    });
    noble.on('discover', this.onDiscover);
  }

  async stop(): Promise<void> {
    const noble = this.noble;
    if (!noble) return;
    await this.stopScan().catch(() => undefined);
    for (const p of this.peripherals.values())
      if (p.state === 'connected') await p.disconnectAsync().catch(() => undefined);
    noble.removeListener('discover', this.onDiscover);
    noble.removeAllListeners('stateChange');
    this.noble = undefined;
    this.state = 'absent';
  }

  adapterState(): 'powered' | 'off' | 'absent' | 'error' {
    return this.state;
  }

  private readonly onDiscover = (p: NoblePeripheral): void => {
    const address = p.address.toUpperCase();
    this.peripherals.set(address, p);
    // noble's typings declare every AD field present; at run time an absent one is undefined
    const a: Partial<NoblePeripheral['advertisement']> = p.advertisement;
    const serviceData: Record<string, Uint8Array> = {};
    for (const sd of a.serviceData ?? []) serviceData[fromNobleUuid(sd.uuid)] = new Uint8Array(sd.data);
    const manufacturerData: Record<number, Uint8Array> = {};
    // AD type 0xFF: company identifier (uint16 LE) then data (CSS Part A 1.4)
    if (a.manufacturerData && a.manufacturerData.length >= 2)
      manufacturerData[a.manufacturerData.readUInt16LE(0)] = new Uint8Array(a.manufacturerData.subarray(2));
    const adv: Advertisement = {
      address,
      serviceUuids: (a.serviceUuids ?? []).map(fromNobleUuid),
      serviceData,
      manufacturerData,
      rssi: p.rssi,
    };
    if (a.localName) adv.name = a.localName;
    this.onAdv?.(adv);
  };

  private require(): NobleModule {
    if (!this.noble || this.state !== 'powered')
      throw new BleError('ADAPTER_UNAVAILABLE', 'noble adapter not powered on');
    return this.noble;
  }

  async startScan(onAdvertisement: (adv: Advertisement) => void): Promise<void> {
    const noble = this.require();
    this.onAdv = onAdvertisement;
    try {
      await noble.startScanningAsync([], true);
    } catch (e) {
      this.onAdv = undefined;
      throw mapNobleError(e);
    }
  }

  async stopScan(): Promise<void> {
    this.onAdv = undefined;
    await this.noble?.stopScanningAsync();
  }

  async connect(address: string, opts: { timeoutMs?: number } = {}): Promise<BleConnection> {
    this.require();
    const addr = address.toUpperCase();
    const p = this.peripherals.get(addr);
    if (!p) throw new BleError('NOT_FOUND', `${addr} has not been seen advertising`);
    if (p.state === 'connecting') throw new BleError('IN_PROGRESS', `${addr}: connection in progress`);
    const ms = opts.timeoutMs ?? this.opts.connectTimeoutMs ?? 15_000;
    const connecting = p.connectAsync();
    connecting.catch(() => undefined);
    try {
      await withTimeout(
        connecting,
        ms,
        () => new BleError('CONNECT_TIMEOUT', `${addr}: no connection within ${ms} ms`),
      );
      const { characteristics } = await p.discoverAllServicesAndCharacteristicsAsync();
      return new NobleConnection(addr, p, characteristics);
    } catch (e) {
      p.cancelConnect();
      await p.disconnectAsync().catch(() => undefined);
      throw mapNobleError(e);
    }
  }

  /** noble has no pairing API (it drives HCI itself, no SMP initiator): bonding needs BlueZ */
  pair(address: string): Promise<void> {
    return Promise.reject(
      new BleError(
        'NOT_SUPPORTED',
        `${address.toUpperCase()}: the noble backend cannot bond; devices that require bonding need the BlueZ backend (ble.backend: bluez)`,
      ),
    );
  }

  isBonded(_address: string): Promise<boolean> {
    return Promise.resolve(false);
  }
}

class NobleConnection implements BleConnection {
  private up = true;
  private readonly listeners: Array<() => void> = [];

  constructor(
    readonly address: string,
    private readonly p: NoblePeripheral,
    private readonly characteristics: NobleCharacteristic[],
  ) {
    p.once('disconnect', () => this.linkLost());
  }

  private linkLost(): void {
    if (!this.up) return;
    this.up = false;
    for (const l of this.listeners.splice(0)) l();
  }

  private find(service: string, characteristic: string): NobleCharacteristic {
    if (!this.up) throw new BleError('DISCONNECTED', `${this.address} is not connected`);
    const c = toNobleUuid(characteristic);
    const s = toNobleUuid(service);
    // noble's Characteristic keeps its service UUID in `_serviceUuid`
    const ch = this.characteristics.find(
      (x) => x.uuid === c && (x as unknown as { _serviceUuid?: string })._serviceUuid === s,
    );
    if (!ch) throw new BleError('NOT_SUPPORTED', `${this.address} has no ${service}/${characteristic}`);
    return ch;
  }

  private fail(e: unknown): BleError {
    return this.up ? mapNobleError(e) : new BleError('DISCONNECTED', `${this.address}: link lost`);
  }

  has(service: string, characteristic: string): Promise<boolean> {
    try {
      this.find(service, characteristic);
      return Promise.resolve(true);
    } catch (e) {
      if (e instanceof BleError && e.code === 'NOT_SUPPORTED') return Promise.resolve(false);
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async read(service: string, characteristic: string): Promise<Uint8Array> {
    const ch = this.find(service, characteristic);
    try {
      return new Uint8Array(await ch.readAsync());
    } catch (e) {
      throw this.fail(e);
    }
  }

  async write(service: string, characteristic: string, value: Uint8Array): Promise<void> {
    const ch = this.find(service, characteristic);
    try {
      await ch.writeAsync(
        Buffer.from(value),
        !ch.properties.includes('write') && ch.properties.includes('writeWithoutResponse'),
      );
    } catch (e) {
      throw this.fail(e);
    }
  }

  async subscribe(
    service: string,
    characteristic: string,
    onValue: (value: Uint8Array) => void,
  ): Promise<() => Promise<void>> {
    const ch = this.find(service, characteristic);
    const handler = (data: Buffer) => onValue(new Uint8Array(data));
    ch.on('data', handler);
    try {
      await ch.subscribeAsync();
    } catch (e) {
      ch.removeListener('data', handler);
      throw this.fail(e);
    }
    return async () => {
      ch.removeListener('data', handler);
      if (this.up) await ch.unsubscribeAsync().catch((e: unknown) => Promise.reject(this.fail(e)));
    };
  }

  onDisconnect(listener: () => void): void {
    if (!this.up) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  async disconnect(): Promise<void> {
    if (!this.up) return;
    try {
      await this.p.disconnectAsync();
    } finally {
      this.linkLost();
    }
  }
}

export function createNobleTransport(opts?: NobleTransportOptions): BleTransport {
  return new NobleTransport(opts);
}
