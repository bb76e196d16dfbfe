import * as dbus from 'dbus-next';
import type { ClientInterface, MessageBus, Message as DbusMessage, Variant as DbusVariant } from 'dbus-next';
import NodeBle from 'node-ble';
import type { Advertisement } from '../../drivers/sdk/definition';
import { fullUuid, normalizeUuid } from '../../drivers/sdk/uuid';
import { BleError, type BleConnection, type BleErrorCode, type BleTransport } from './transport';

/**
 * BleTransport on BlueZ over D-Bus through node-ble (doc/org.bluez.Adapter.rst, Device.rst,
 * GattCharacteristic.rst). The bus is the system bus, or DBUS_SYSTEM_BUS_ADDRESS / `busAddress`
 * (how the virtual BlueZ is reached: the same code runs against both).
 *
 * Discovery: node-ble has no advertisement events, so the transport listens on node-ble's own bus
 * connection for ObjectManager.InterfacesAdded (a device is found) and Properties.PropertiesChanged
 * on Device1 under the adapter (RSSI, ServiceData, ManufacturerData, UUIDs, Name: BlueZ reports
 * every advertising report this way while discovering, DuplicateData defaulting to true,
 * doc/org.bluez.Adapter.rst SetDiscoveryFilter). No polling; one snapshot with GetManagedObjects
 * when the scan starts covers devices BlueZ already knew and had seen (RSSI present).
 */
export interface BluezTransportOptions {
  /** adapter name, e.g. 'hci0'; default: the first one BlueZ lists */
  adapter?: string;
  /** D-Bus address of the bus bluetoothd is on; default DBUS_SYSTEM_BUS_ADDRESS, else the system bus */
  busAddress?: string;
  /** default connect timeout (Home Assistant recommends >= 10 s on a Raspberry Pi) */
  connectTimeoutMs?: number;
  /** how long start() waits for the bus and the adapter */
  startTimeoutMs?: number;
  /** default pair() timeout (bonding includes connecting and key distribution) */
  pairTimeoutMs?: number;
}

type Props = Record<string, unknown>;
type NodeBleBluetooth = NodeBle.Bluetooth;
type NodeBleAdapter = NodeBle.Adapter;
type NodeBleDevice = NodeBle.Device;
type NodeBleCharacteristic = NodeBle.GattCharacteristic;

interface DbusProperties extends ClientInterface {
  Set(iface: string, name: string, value: DbusVariant): Promise<void>;
}
interface DbusObjectManager extends ClientInterface {
  GetManagedObjects(): Promise<Record<string, Record<string, Record<string, unknown>>>>;
}

const ADV_KEYS = ['RSSI', 'ServiceData', 'ManufacturerData', 'UUIDs', 'Name', 'Alias'];

/**
 * An authentication-type refusal of a read/write/StartNotify: the characteristic needs an
 * encrypted, bonded link. ATT 0x05 Insufficient Authentication, 0x0F Insufficient Encryption,
 * 0x0C Insufficient Encryption Key Size (Core Vol 3 Part F 3.4.1.1).
 */
const NOT_BONDED_TEXT = /not paired|insufficient (authentication|encryption)|ATT error: 0x0?(05|0f|0c)\b/i;

/** org.bluez.Error.* (doc/org.bluez.*.rst "Possible errors") and D-Bus errors to BleError codes. */
export function mapBluezError(e: unknown, fallback: BleErrorCode = 'FAILED'): BleError {
  if (e instanceof BleError) return e;
  const type = e instanceof dbus.DBusError ? e.type : '';
  const text = e instanceof dbus.DBusError ? e.text : e instanceof Error ? e.message : String(e);
  const name = type.replace(/^org\.bluez\.Error\./, '');
  const code = ((): BleErrorCode => {
    switch (name) {
      case 'InProgress':
        return 'IN_PROGRESS';
      case 'NotReady':
        return 'ADAPTER_UNAVAILABLE';
      case 'NotConnected':
        return 'DISCONNECTED';
      case 'NotPermitted':
        // gatt-client.c create_gatt_dbus_error(): ATT 0x05/0x0F/0x0C -> NotPermitted "Not paired"
        return NOT_BONDED_TEXT.test(text) ? 'NOT_BONDED' : 'NOT_SUPPORTED';
      case 'NotSupported':
        return 'NOT_SUPPORTED';
      case 'ConnectionAttemptFailed':
        // Pair/Connect could not reach the device (Page Timeout, le-connection-abort): retry later
        return 'FAILED';
      case 'NotAuthorized':
      case 'AuthenticationFailed':
      case 'AuthenticationCanceled':
      case 'AuthenticationRejected':
      case 'AuthenticationTimeout':
        return 'AUTH_FAILED';
      case 'DoesNotExist':
        return 'NOT_FOUND';
      case 'Failed':
        // older bluetoothd: "Operation failed with ATT error: 0x05" for an encrypted characteristic
        if (NOT_BONDED_TEXT.test(text)) return 'NOT_BONDED';
        return /not connected|disconnected/i.test(text) ? 'DISCONNECTED' : 'FAILED';
      case 'org.freedesktop.DBus.Error.ServiceUnknown':
      case 'org.freedesktop.DBus.Error.NameHasNoOwner':
        return 'ADAPTER_UNAVAILABLE';
      case 'org.freedesktop.DBus.Error.UnknownObject':
      case 'org.freedesktop.DBus.Error.UnknownMethod':
        return 'NOT_FOUND';
    }
    if (/Device not found/.test(text)) return 'NOT_FOUND';
    if (/(Service|Characteristic) not available/.test(text)) return 'NOT_SUPPORTED';
    if (/No available adapters|Adapter not found|ENOENT|ECONNREFUSED|EACCES/.test(text)) return 'ADAPTER_UNAVAILABLE';
    return fallback;
  })();
  return new BleError(code, type ? `${type}: ${text}` : text);
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => BleError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const unwrap = (v: unknown): unknown => (v instanceof dbus.Variant ? v.value : v);
const bytes = (v: unknown): Uint8Array =>
  v instanceof Uint8Array ? new Uint8Array(v) : Array.isArray(v) ? Uint8Array.from(v as number[]) : new Uint8Array(0);

function toAdvertisement(p: Props): Advertisement | undefined {
  const address = p.Address;
  if (typeof address !== 'string') return undefined;
  const serviceData: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries((p.ServiceData as Record<string, unknown> | undefined) ?? {})) {
    try {
      serviceData[normalizeUuid(k)] = bytes(unwrap(v));
    } catch {
      /* not a UUID: skip */
    }
  }
  const manufacturerData: Record<number, Uint8Array> = {};
  for (const [k, v] of Object.entries((p.ManufacturerData as Record<string, unknown> | undefined) ?? {}))
    manufacturerData[Number(k)] = bytes(unwrap(v));
  const serviceUuids: string[] = [];
  for (const u of (p.UUIDs as string[] | undefined) ?? []) {
    try {
      serviceUuids.push(normalizeUuid(u));
    } catch {
      /* skip */
    }
  }
  const adv: Advertisement = { address: address.toUpperCase(), serviceUuids, serviceData, manufacturerData };
  if (typeof p.Name === 'string') adv.name = p.Name;
  if (typeof p.RSSI === 'number') adv.rssi = p.RSSI;
  return adv;
}

function unwrapProps(dict: Record<string, unknown>): Props {
  const out: Props = {};
  for (const [k, v] of Object.entries(dict)) out[k] = unwrap(v);
  return out;
}

export class BluezTransport implements BleTransport {
  readonly backend = 'bluez' as const;
  private bluetooth: NodeBleBluetooth | undefined;
  private destroyBus: (() => void) | undefined;
  private bus: MessageBus | undefined;
  private adapter: NodeBleAdapter | undefined;
  private adapterPath = '';
  private state: 'powered' | 'off' | 'absent' | 'error' = 'absent';
  private scanning: ((adv: Advertisement) => void) | undefined;
  private ownDiscovery = false;
  private readonly deviceProps = new Map<string, Props>();
  private readonly connections = new Set<BluezConnection>();
  private readonly matchRules: string[] = [];

  constructor(private readonly opts: BluezTransportOptions = {}) {}

  async start(): Promise<void> {
    if (this.bluetooth) return;
    // node-ble opens dbus-next's systemBus(), which reads DBUS_SYSTEM_BUS_ADDRESS when called
    const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    if (this.opts.busAddress) process.env.DBUS_SYSTEM_BUS_ADDRESS = this.opts.busAddress;
    const ble = NodeBle.createBluetooth();
    const { bluetooth } = ble;
    if (this.opts.busAddress) {
      if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    }
    const bus = (bluetooth as unknown as { dbus: MessageBus }).dbus;
    let busError: Error | undefined;
    const failed = new Promise<never>((_, reject) =>
      bus.on('error', (e: Error) => {
        busError = e;
        this.state = 'error';
        reject(e);
      }),
    );
    failed.catch(() => undefined);
    this.bluetooth = bluetooth;
    this.destroyBus = () => {
      ble.destroy();
    };
    this.bus = bus;
    try {
      await withTimeout(
        Promise.race([failed, this.openAdapter(bluetooth, bus)]),
        this.opts.startTimeoutMs ?? 5000,
        () =>
          new BleError(
            'ADAPTER_UNAVAILABLE',
            `no BlueZ adapter answered within ${this.opts.startTimeoutMs ?? 5000} ms${busError ? `: ${busError.message}` : ''}`,
          ),
      );
    } catch (e) {
      this.teardownBus();
      this.state = this.state === 'error' ? 'error' : 'absent';
      throw mapBluezError(e, 'ADAPTER_UNAVAILABLE');
    }
  }

  private async openAdapter(bluetooth: NodeBleBluetooth, bus: MessageBus): Promise<void> {
    const adapter = this.opts.adapter
      ? await bluetooth.getAdapter(this.opts.adapter)
      : await bluetooth.defaultAdapter();
    this.adapter = adapter;
    this.adapterPath = `/org/bluez/${(adapter as unknown as { adapter: string }).adapter}`;
    bus.on('message', this.onMessage);
    await this.addMatch(`type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager',path='/'`);
    await this.addMatch(
      `type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='${this.adapterPath}'`,
    );
    if (!(await adapter.isPowered())) {
      // Adapter1.Powered is read-write (doc/org.bluez.Adapter.rst)
      const obj = await bus.getProxyObject('org.bluez', this.adapterPath);
      const props = obj.getInterface<DbusProperties>('org.freedesktop.DBus.Properties');
      await props.Set('org.bluez.Adapter1', 'Powered', new dbus.Variant('b', true));
    }
    this.state = (await adapter.isPowered()) ? 'powered' : 'off';
    if (this.state !== 'powered') throw new BleError('ADAPTER_UNAVAILABLE', `${this.adapterPath} cannot be powered on`);
  }

  private async addMatch(rule: string): Promise<void> {
    const bus = this.bus;
    if (!bus) return;
    await bus.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'AddMatch',
        signature: 's',
        body: [rule],
      }),
    );
    this.matchRules.push(rule);
  }

  async stop(): Promise<void> {
    if (!this.bluetooth) return;
    await this.stopScan().catch(() => undefined);
    await Promise.allSettled([...this.connections].map((c) => c.disconnect()));
    this.teardownBus();
    this.state = 'absent';
  }

  private teardownBus(): void {
    this.bus?.off('message', this.onMessage);
    this.bus?.removeAllListeners('error');
    this.bus?.on('error', () => undefined); // late socket errors after disconnect
    this.destroyBus?.();
    this.bluetooth = undefined;
    this.destroyBus = undefined;
    this.bus = undefined;
    this.adapter = undefined;
    this.matchRules.length = 0;
  }

  adapterState(): 'powered' | 'off' | 'absent' | 'error' {
    return this.state;
  }

  async startScan(onAdvertisement: (adv: Advertisement) => void): Promise<void> {
    const adapter = this.requireAdapter();
    const bus = this.bus;
    if (!bus) throw new BleError('ADAPTER_UNAVAILABLE', 'transport not started');
    this.scanning = onAdvertisement;
    try {
      await adapter.startDiscovery();
      this.ownDiscovery = true;
    } catch (e) {
      // another client's discovery session also delivers the reports we need
      if (!(e instanceof Error && /already in progress/.test(e.message))) {
        this.scanning = undefined;
        throw mapBluezError(e);
      }
    }
    // snapshot: devices BlueZ already has and has heard (RSSI present)
    const root = await bus.getProxyObject('org.bluez', '/');
    const objects = await root
      .getInterface<DbusObjectManager>('org.freedesktop.DBus.ObjectManager')
      .GetManagedObjects();
    for (const [path, ifaces] of Object.entries(objects)) {
      const dev = ifaces['org.bluez.Device1'];
      if (!dev || !path.startsWith(`${this.adapterPath}/`)) continue;
      const props = unwrapProps(dev);
      this.deviceProps.set(path, props);
      if (typeof props.RSSI === 'number') this.report(path);
    }
  }

  async stopScan(): Promise<void> {
    const adapter = this.adapter;
    this.scanning = undefined;
    if (!adapter || !this.ownDiscovery) return;
    this.ownDiscovery = false;
    try {
      await adapter.stopDiscovery();
    } catch (e) {
      if (!(e instanceof Error && /No discovery started/.test(e.message))) throw mapBluezError(e);
    }
  }

  private report(path: string): void {
    const props = this.deviceProps.get(path);
    const adv = props && toAdvertisement(props);
    if (adv && this.scanning) this.scanning(adv);
  }

  private readonly onMessage = (msg: DbusMessage): void => {
    if (msg.type !== dbus.MessageType.SIGNAL) return;
    const body = msg.body as unknown[];
    if (msg.interface === 'org.freedesktop.DBus.ObjectManager') {
      const path = String(body[0]);
      if (msg.member === 'InterfacesAdded') {
        const ifaces = body[1] as Record<string, Record<string, unknown>>;
        if (path === this.adapterPath && ifaces['org.bluez.Adapter1'])
          this.state = unwrap(ifaces['org.bluez.Adapter1'].Powered) ? 'powered' : 'off';
        const dev = ifaces['org.bluez.Device1'];
        if (dev && path.startsWith(`${this.adapterPath}/`)) {
          this.deviceProps.set(path, unwrapProps(dev));
          this.report(path);
        }
      } else if (msg.member === 'InterfacesRemoved') {
        const names = body[1] as string[];
        if (path === this.adapterPath && names.includes('org.bluez.Adapter1')) {
          this.state = 'absent';
          for (const c of this.connections) c.linkLost();
        }
        if (names.includes('org.bluez.Device1')) this.deviceProps.delete(path);
      }
      return;
    }
    if (msg.interface === 'org.freedesktop.DBus.Properties' && msg.member === 'PropertiesChanged') {
      const iface = String(body[0]);
      const changed = unwrapProps(body[1] as Record<string, unknown>);
      if (iface === 'org.bluez.Adapter1' && msg.path === this.adapterPath && 'Powered' in changed) {
        this.state = changed.Powered ? 'powered' : 'off';
      } else if (iface === 'org.bluez.Device1') {
        const props = this.deviceProps.get(msg.path);
        if (!props) return;
        Object.assign(props, changed);
        if (Object.keys(changed).some((k) => ADV_KEYS.includes(k))) this.report(msg.path);
      }
    }
  };

  private requireAdapter(): NodeBleAdapter {
    if (!this.adapter) throw new BleError('ADAPTER_UNAVAILABLE', 'transport not started');
    if (this.state === 'absent') throw new BleError('ADAPTER_UNAVAILABLE', `${this.adapterPath} is gone`);
    return this.adapter;
  }

  async connect(address: string, opts: { timeoutMs?: number } = {}): Promise<BleConnection> {
    const adapter = this.requireAdapter();
    const timeoutMs = opts.timeoutMs ?? this.opts.connectTimeoutMs ?? 15_000;
    const addr = address.toUpperCase();
    let device: NodeBleDevice;
    try {
      device = await adapter.getDevice(addr);
    } catch (e) {
      throw mapBluezError(e, 'NOT_FOUND');
    }
    const started = Date.now();
    // Device1.Connect returns once connected and services are resolved (doc/org.bluez.Device.rst)
    const connecting = device.connect();
    connecting.catch(() => undefined);
    try {
      await withTimeout(
        connecting,
        timeoutMs,
        () => new BleError('CONNECT_TIMEOUT', `${addr}: no connection within ${timeoutMs} ms`),
      );
      const gatt = await withTimeout(
        device.gatt(),
        Math.max(1, timeoutMs - (Date.now() - started)),
        () => new BleError('CONNECT_TIMEOUT', `${addr}: services not resolved within ${timeoutMs} ms`),
      );
      const conn = new BluezConnection(addr, device, gatt, () => this.connections.delete(conn));
      this.connections.add(conn);
      return conn;
    } catch (e) {
      // Disconnect also cancels a pending connection attempt
      await device.disconnect().catch(() => undefined);
      throw mapBluezError(e);
    }
  }

  /**
   * Device1.Pair (doc/org.bluez.Device.rst). The gateway registers no pairing agent
   * (AgentManager1.RegisterAgent), so bluetoothd pairs with IO capability NoInputNoOutput: Just
   * Works, which is what health devices without a keypad or display use. Devices that ask for a
   * passkey or numeric comparison are out of scope (their Pair fails with AuthenticationFailed/
   * Rejected). node-ble offers no agent of its own.
   */
  async pair(address: string, opts: { timeoutMs?: number; replace?: boolean } = {}): Promise<void> {
    const adapter = this.requireAdapter();
    const addr = address.toUpperCase();
    const timeoutMs = opts.timeoutMs ?? this.opts.pairTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let device = await this.knownDevice(adapter, addr);
    if (await this.bonded(device)) {
      if (!opts.replace) return;
      // the device forgot its keys: drop ours (Adapter1.RemoveDevice removes the bond and the
      // object), then wait for discovery to report the device again before pairing anew
      await this.removeDevice(addr);
      device = await this.rediscovered(adapter, addr, deadline);
    }
    const pairing = device.pair();
    pairing.catch(() => undefined);
    try {
      await withTimeout(
        pairing,
        Math.max(1, deadline - Date.now()),
        () => new BleError('AUTH_FAILED', `${addr}: no bond within ${timeoutMs} ms (AuthenticationTimeout)`),
      );
    } catch (e) {
      if (e instanceof dbus.DBusError && e.type === 'org.bluez.Error.AlreadyExists') return; // bonded meanwhile
      if (e instanceof BleError) await device.cancelPair().catch(() => undefined);
      throw mapBluezError(e);
    }
  }

  async isBonded(address: string): Promise<boolean> {
    const adapter = this.requireAdapter();
    const device = await adapter.getDevice(address.toUpperCase()).catch(() => undefined);
    return device ? this.bonded(device) : false;
  }

  /** Device1.Bonded (BlueZ >= 5.67: keys stored) when present, else Paired */
  private async bonded(device: NodeBleDevice): Promise<boolean> {
    const helper = (device as unknown as { helper: { prop(name: string): Promise<unknown> } }).helper;
    try {
      const bonded = await helper.prop('Bonded');
      if (typeof bonded === 'boolean') return bonded;
    } catch {
      /* older bluetoothd: no Bonded property */
    }
    try {
      return ((await device.isPaired()) as unknown) === true; // typed string by node-ble, a boolean on the wire
    } catch (e) {
      throw mapBluezError(e);
    }
  }

  private async knownDevice(adapter: NodeBleAdapter, addr: string): Promise<NodeBleDevice> {
    try {
      return await adapter.getDevice(addr);
    } catch (e) {
      throw mapBluezError(e, 'NOT_FOUND');
    }
  }

  private async removeDevice(addr: string): Promise<void> {
    const bus = this.bus;
    if (!bus) throw new BleError('ADAPTER_UNAVAILABLE', 'transport not started');
    const obj = await bus.getProxyObject('org.bluez', this.adapterPath);
    const iface = obj.getInterface('org.bluez.Adapter1') as ClientInterface & {
      RemoveDevice(path: string): Promise<void>;
    };
    try {
      await iface.RemoveDevice(`${this.adapterPath}/dev_${addr.replace(/:/g, '_')}`);
    } catch (e) {
      const err = mapBluezError(e);
      if (err.code !== 'NOT_FOUND') throw err;
    }
  }

  private async rediscovered(adapter: NodeBleAdapter, addr: string, deadline: number): Promise<NodeBleDevice> {
    for (;;) {
      const device = await adapter.getDevice(addr).catch(() => undefined);
      if (device) return device;
      if (Date.now() > deadline)
        throw new BleError(
          'NOT_FOUND',
          `${addr}: not heard again after its stale bond was removed (is discovery running?)`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

class BluezConnection implements BleConnection {
  private up = true;
  private readonly listeners: Array<() => void> = [];
  private readonly chars = new Map<string, NodeBleCharacteristic>();
  private readonly subscriptions = new Map<string, { ch: NodeBleCharacteristic; handler: (b: Buffer) => void }>();

  constructor(
    readonly address: string,
    private readonly device: NodeBleDevice,
    private readonly gatt: NodeBle.GattServer,
    private readonly onClosed: () => void,
  ) {
    device.on('disconnect', this.onDeviceDisconnect);
  }

  private readonly onDeviceDisconnect = () => this.linkLost();

  /**
   * node-ble leaves a D-Bus signal listener (PropertiesChanged) per characteristic and per
   * connect on the bus unless StopNotify/Disconnect are called by us; a remote drop or a session
   * that just ends would leak them (and their proxies) one set per connection. Released here.
   */
  private releaseBusListeners(): void {
    type WithHelper = { helper?: { removeListeners?: () => void } };
    for (const c of this.chars.values()) (c as unknown as WithHelper).helper?.removeListeners?.();
    this.chars.clear();
    this.device.off('disconnect', this.onDeviceDisconnect);
    (this.device as unknown as WithHelper).helper?.removeListeners?.();
  }

  /** the link went down (remote drop, adapter gone, or our disconnect): listeners run once */
  linkLost(): void {
    if (!this.up) return;
    this.up = false;
    for (const { ch, handler } of this.subscriptions.values()) ch.off('valuechanged', handler);
    this.subscriptions.clear();
    this.releaseBusListeners();
    this.onClosed();
    for (const l of this.listeners.splice(0)) {
      try {
        l();
      } catch {
        /* a listener's error is not ours */
      }
    }
  }

  private async char(service: string, characteristic: string): Promise<NodeBleCharacteristic> {
    if (!this.up) throw new BleError('DISCONNECTED', `${this.address} is not connected`);
    const key = `${normalizeUuid(service)}/${normalizeUuid(characteristic)}`;
    const cached = this.chars.get(key);
    if (cached) return cached;
    try {
      const s = await this.gatt.getPrimaryService(fullUuid(service));
      const c = await s.getCharacteristic(fullUuid(characteristic));
      this.chars.set(key, c);
      return c;
    } catch (e) {
      throw await this.mapped(e, 'NOT_SUPPORTED');
    }
  }

  /** an operation failed: if the link is gone meanwhile, that is the reason */
  private async mapped(e: unknown, fallback?: BleErrorCode): Promise<BleError> {
    const err = mapBluezError(e, fallback);
    if (!this.up) return new BleError('DISCONNECTED', `${this.address}: link lost (${err.message})`);
    if (err.code === 'FAILED' || err.code === 'NOT_FOUND' || err.code === 'DISCONNECTED') {
      const connected = await this.device.isConnected().catch(() => false);
      if (!connected) {
        this.linkLost();
        return new BleError('DISCONNECTED', `${this.address}: link lost (${err.message})`);
      }
    }
    return err;
  }

  async has(service: string, characteristic: string): Promise<boolean> {
    try {
      await this.char(service, characteristic);
      return true;
    } catch (e) {
      if (e instanceof BleError && e.code === 'NOT_SUPPORTED') return false;
      throw e;
    }
  }

  async read(service: string, characteristic: string): Promise<Uint8Array> {
    const c = await this.char(service, characteristic);
    try {
      return new Uint8Array(await c.readValue());
    } catch (e) {
      throw await this.mapped(e);
    }
  }

  async write(service: string, characteristic: string, value: Uint8Array): Promise<void> {
    const c = await this.char(service, characteristic);
    try {
      const flags = await c.getFlags();
      // "request" = ATT Write Request; node-ble's default "reliable" would be a prepared write
      const type = flags.includes('write') || !flags.includes('write-without-response') ? 'request' : 'command';
      await c.writeValue(Buffer.from(value), { offset: 0, type });
    } catch (e) {
      throw await this.mapped(e);
    }
  }

  async subscribe(
    service: string,
    characteristic: string,
    onValue: (value: Uint8Array) => void,
  ): Promise<() => Promise<void>> {
    const c = await this.char(service, characteristic);
    const key = `${normalizeUuid(service)}/${normalizeUuid(characteristic)}`;
    if (this.subscriptions.has(key)) throw new BleError('IN_PROGRESS', `${this.address}: already subscribed to ${key}`);
    const handler = (b: Buffer) => onValue(new Uint8Array(b));
    c.on('valuechanged', handler);
    this.subscriptions.set(key, { ch: c, handler });
    try {
      await c.startNotifications();
    } catch (e) {
      c.off('valuechanged', handler);
      this.subscriptions.delete(key);
      throw await this.mapped(e);
    }
    return async () => {
      const sub = this.subscriptions.get(key);
      if (!sub || sub.handler !== handler) return;
      this.subscriptions.delete(key);
      c.off('valuechanged', handler);
      if (!this.up) return;
      try {
        await c.stopNotifications();
      } catch (e) {
        const err = await this.mapped(e);
        if (err.code !== 'DISCONNECTED') throw err;
      }
    };
  }

  onDisconnect(listener: () => void): void {
    if (!this.up) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  async disconnect(): Promise<void> {
    if (!this.up) return;
    try {
      await this.device.disconnect();
    } catch (e) {
      const err = mapBluezError(e);
      if (err.code !== 'DISCONNECTED' && err.code !== 'NOT_FOUND') throw err;
    } finally {
      this.linkLost();
    }
  }
}

export function createBluezTransport(opts?: BluezTransportOptions): BleTransport {
  return new BluezTransport(opts);
}
