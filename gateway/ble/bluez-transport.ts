import * as dbus from 'dbus-next';
import type { ClientInterface, MessageBus, Message as DbusMessage, Variant as DbusVariant } from 'dbus-next';
import NodeBle from 'node-ble';
import type { Advertisement } from '../../drivers/sdk/definition';
import { fullUuid, normalizeUuid } from '../../drivers/sdk/uuid';
import { registerPairingAgent, type AgentPolicy } from './pairing-agent';
import { BleError, type BleConnection, type BleErrorCode, type BleTransport, type RadioEvent } from './transport';

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
  /**
   * the adapter, by name ('hci0') or better by its address ('00:1A:7D:DA:71:13': a USB dongle
   * keeps its address when the kernel renumbers it); default: the first one BlueZ lists
   */
  adapter?: string;
  /** the pairing agent's policy; registered with bluetoothd at every start (gateway/ble/pairing-agent.ts) */
  agent?: AgentPolicy;
  /** how long the agent waits for a passkey relayed from the hub (inside the 30 s SMP time-out) */
  passkeyTimeoutMs?: number;
  /** pause after the link is up and services resolved, before the first GATT request */
  settleMs?: number;
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
  private readonly radioListeners: Array<(e: RadioEvent) => void> = [];
  private unregisterAgent: (() => Promise<void>) | undefined;
  private discoveryPaused = 0;
  /** the unique bus name of the bluetoothd we talk to (a restart gives a new one) */
  private bluezOwner: string | undefined;

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
    fixMatchRefcount(bus);
    let busError: Error | undefined;
    const failed = new Promise<never>((_, reject) =>
      bus.on('error', (e: Error) => {
        busError = e;
        const wasUp = this.bus === bus && this.state !== 'error';
        this.state = 'error';
        reject(e);
        if (wasUp) {
          // the bus connection is unusable: every link on it is gone for us
          for (const c of this.connections) c.linkLost();
          this.radio('bus-error');
        }
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
      ? await bluetooth.getAdapter(await this.adapterName(bus, this.opts.adapter))
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
    // bluetoothd leaving the bus (crash, restart) is seen as its unique name losing org.bluez
    await this.addMatch(
      `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'`,
    );
    this.bluezOwner = await this.ownerOfBluez(bus);
    if (this.opts.agent)
      this.unregisterAgent = await registerPairingAgent(bus, this.opts.agent, {
        passkeyTimeoutMs: this.opts.passkeyTimeoutMs,
      });
  }

  private async ownerOfBluez(bus: MessageBus): Promise<string | undefined> {
    const reply = await bus.call(
      new dbus.Message({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'GetNameOwner',
        signature: 's',
        body: ['org.bluez'],
      }),
    );
    const owner = (reply?.body as unknown[] | undefined)?.[0];
    return typeof owner === 'string' ? owner : undefined;
  }

  /** 'hci1' as is; an adapter address is looked up among the Adapter1 objects BlueZ has */
  private async adapterName(bus: MessageBus, wanted: string): Promise<string> {
    if (!/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/i.test(wanted)) return wanted;
    const root = await bus.getProxyObject('org.bluez', '/');
    const objects = await root
      .getInterface<DbusObjectManager>('org.freedesktop.DBus.ObjectManager')
      .GetManagedObjects();
    for (const [path, ifaces] of Object.entries(objects)) {
      const a = ifaces['org.bluez.Adapter1'];
      if (a && String(unwrap(a.Address)).toUpperCase() === wanted.toUpperCase()) return path.split('/').pop() ?? path;
    }
    throw new BleError('ADAPTER_UNAVAILABLE', `no adapter with address ${wanted}`);
  }

  setPairingAgent(policy: AgentPolicy): void {
    this.opts.agent = policy;
  }

  onRadioEvent(listener: (e: RadioEvent) => void): void {
    this.radioListeners.push(listener);
  }

  private radio(e: RadioEvent): void {
    for (const l of this.radioListeners) {
      try {
        l(e);
      } catch {
        /* a listener's error is not ours */
      }
    }
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
    const unregister = this.unregisterAgent;
    this.unregisterAgent = undefined;
    if (unregister && this.state !== 'absent') await unregister().catch(() => undefined);
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
    this.discoveryPaused = 0;
    this.bluezOwner = undefined;
  }

  adapterState(): 'powered' | 'off' | 'absent' | 'error' {
    return this.state;
  }

  async startScan(onAdvertisement: (adv: Advertisement) => void): Promise<void> {
    this.requireAdapter();
    const bus = this.bus;
    if (!bus) throw new BleError('ADAPTER_UNAVAILABLE', 'transport not started');
    this.scanning = onAdvertisement;
    try {
      await this.startDiscovery();
      this.ownDiscovery = true;
    } catch (e) {
      // another client's discovery session also delivers the reports we need
      if (!(e instanceof BleError && e.code === 'IN_PROGRESS')) {
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

  /**
   * LE only (health devices are LE; BR/EDR inquiry would share the single radio for nothing) and
   * DuplicateData: every advertising report is delivered, so a broadcast scale's new weight in an
   * unchanged-looking report still arrives (doc/org.bluez.Adapter.rst SetDiscoveryFilter).
   */
  private async startDiscovery(): Promise<void> {
    const bus = this.bus;
    if (!bus) throw new BleError('ADAPTER_UNAVAILABLE', 'transport not started');
    // not node-ble's startDiscovery: it sets its own filter (Transport only), replacing ours
    const obj = await bus.getProxyObject('org.bluez', this.adapterPath);
    const iface = obj.getInterface('org.bluez.Adapter1') as ClientInterface & {
      SetDiscoveryFilter(filter: Record<string, DbusVariant>): Promise<void>;
      StartDiscovery(): Promise<void>;
    };
    try {
      await iface.SetDiscoveryFilter({
        Transport: new dbus.Variant('s', 'le'),
        DuplicateData: new dbus.Variant('b', true),
      });
      await iface.StartDiscovery();
    } catch (e) {
      throw mapBluezError(e);
    }
  }

  /**
   * Discovery off while a connection is being made: a Raspberry Pi's single radio scanning and
   * initiating at once makes le-connection-abort-by-local far more likely (bleak-retry-connector
   * and Home Assistant pause scanning for the same reason). Counted: nested pauses resume once.
   */
  async pauseDiscovery(): Promise<void> {
    this.discoveryPaused++;
    if (this.discoveryPaused > 1 || !this.ownDiscovery || !this.adapter) return;
    try {
      await this.adapter.stopDiscovery();
    } catch (e) {
      if (!(e instanceof Error && /No discovery started/.test(e.message))) throw mapBluezError(e);
    }
  }

  async resumeDiscovery(): Promise<void> {
    if (this.discoveryPaused === 0) return;
    this.discoveryPaused--;
    if (this.discoveryPaused > 0 || !this.ownDiscovery || !this.adapter || !this.scanning) return;
    try {
      await this.startDiscovery();
    } catch (e) {
      if (!(e instanceof BleError && e.code === 'IN_PROGRESS')) throw e;
    }
  }

  async stopScan(): Promise<void> {
    const adapter = this.adapter;
    this.scanning = undefined;
    if (!adapter || !this.ownDiscovery) return;
    this.ownDiscovery = false;
    if (this.discoveryPaused > 0) {
      this.discoveryPaused = 0;
      return;
    }
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
    if (msg.member === 'NameOwnerChanged' && body[0] === 'org.bluez') {
      const newOwner = String(body[2]);
      if (!newOwner) {
        // bluetoothd left the bus: every link and the adapter are gone with it
        this.state = 'absent';
        this.bluezOwner = undefined;
        for (const c of this.connections) c.linkLost();
        this.radio('bluetoothd-gone');
      } else if (newOwner !== this.bluezOwner) {
        this.bluezOwner = newOwner;
        this.radio('bluetoothd-restarted');
      }
      return;
    }
    if (msg.interface === 'org.freedesktop.DBus.ObjectManager') {
      const path = String(body[0]);
      if (msg.member === 'InterfacesAdded') {
        const ifaces = body[1] as Record<string, Record<string, unknown>>;
        if (path === this.adapterPath && ifaces['org.bluez.Adapter1']) {
          this.state = unwrap(ifaces['org.bluez.Adapter1'].Powered) ? 'powered' : 'off';
          this.radio('adapter-added');
        }
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
          this.radio('adapter-lost');
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
        this.radio(changed.Powered ? 'adapter-on' : 'adapter-off');
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
      // a moment for the peripheral after service discovery (encryption, Service Changed)
      if (this.opts.settleMs) await new Promise((r) => setTimeout(r, this.opts.settleMs));
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
   * Device1.Pair (doc/org.bluez.Device.rst). bluetoothd asks the registered agent
   * (gateway/ble/pairing-agent.ts, `agent` option) to confirm Just Works or to enter a passkey;
   * without an agent it has nobody to ask and the pairing fails (AuthenticationFailed).
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
    private gatt: NodeBle.GattServer,
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
    releaseGatt(this.gatt);
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
      const err = await this.mapped(e, 'NOT_SUPPORTED');
      if (err.code !== 'NOT_SUPPORTED' || this.refreshed) throw err;
      // a stale or incomplete attribute table (services added after ServicesResolved, a Service
      // Changed indication): enumerate the device's GATT objects again, once per connection
      // (bleak-retry-connector clears its cache on a missing characteristic for the same reason)
      this.refreshed = true;
      try {
        const old = this.gatt;
        this.gatt = await this.device.gatt();
        releaseGatt(old);
      } catch (e2) {
        throw await this.mapped(e2);
      }
      return this.char(service, characteristic);
    }
  }
  private refreshed = false;

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

/**
 * dbus-next 0.10 counts match rules with `hasOwnProperty.call(match, rules)` (arguments swapped):
 * every signal listener sends AddMatch and RemoveMatch is never sent, so each proxy node-ble makes
 * (one per device and characteristic, per connection) leaves a rule on the bus for good, until
 * dbus-daemon refuses more (max_match_rules_per_connection, 512 on the system bus) and the bus
 * connection fails: a gateway deaf after some hundred sessions. Counted correctly here.
 */
function fixMatchRefcount(bus: MessageBus): void {
  type Internals = {
    _matchRules: Record<string, number>;
    _addMatch(match: string): Promise<unknown>;
    _removeMatch(match: string): Promise<unknown>;
    call(msg: DbusMessage): Promise<unknown>;
    _connection?: { stream?: { writable?: boolean } };
  };
  const b = bus as unknown as Internals;
  const send = (member: 'AddMatch' | 'RemoveMatch', match: string) =>
    b.call(
      new dbus.Message({
        path: '/org/freedesktop/DBus',
        destination: 'org.freedesktop.DBus',
        interface: 'org.freedesktop.DBus',
        member,
        signature: 's',
        body: [match],
      }),
    );
  b._addMatch = (match) => {
    const n = b._matchRules[match] ?? 0;
    b._matchRules[match] = n + 1;
    return n > 0 ? Promise.resolve() : send('AddMatch', match);
  };
  b._removeMatch = (match) => {
    const n = b._matchRules[match];
    if (n === undefined) return Promise.resolve();
    if (n > 1) {
      b._matchRules[match] = n - 1;
      return Promise.resolve();
    }
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a rule string keyed map
    delete b._matchRules[match];
    if (b._connection?.stream?.writable === false) return Promise.resolve();
    return send('RemoveMatch', match).catch(() => undefined);
  };
}

/**
 * node-ble's GattServer builds a proxy (and a PropertiesChanged match rule on the bus) for every
 * service and characteristic of the device; dbus-daemon allows 512 rules per connection
 * (max_match_rules_per_connection), so each GattServer's are released when it is dropped.
 */
function releaseGatt(gatt: NodeBle.GattServer): void {
  type Helper = { helper?: { removeListeners?: () => void } };
  type Tree = Helper & { _services?: Record<string, Helper & { _characteristics?: Record<string, Helper> }> };
  const server = gatt as unknown as Tree;
  for (const svc of Object.values(server._services ?? {})) {
    for (const ch of Object.values(svc._characteristics ?? {})) ch.helper?.removeListeners?.();
    svc.helper?.removeListeners?.();
  }
  server.helper?.removeListeners?.();
}

export function createBluezTransport(opts?: BluezTransportOptions): BleTransport {
  return new BluezTransport(opts);
}
