import { createRequire } from 'node:module';
import * as dbus from 'dbus-next';
import type { MessageBus, Message as DbusMessage } from 'dbus-next';
import { fullUuid, normalizeUuid } from '../../drivers/sdk/uuid';
import {
  AttError,
  type CharacteristicSpec,
  type PeripheralLink,
  type ServiceSpec,
  type VirtualPeripheral,
} from './peripheral';

const { Interface } = dbus.interface;
const { Variant, DBusError, Message } = dbus;
type Variant = InstanceType<typeof Variant>;

/**
 * dbus-next marshals dictionary keys from Object.keys(), i.e. strings, and its uint16 marshaller
 * refuses strings, so Device1.ManufacturerData (a{qv}) could not be sent. Accept integer strings
 * for integer types; everything else is unchanged.
 */
function patchIntegerKeys(): void {
  const req = createRequire(import.meta.url);
  const marshallers = req('dbus-next/lib/marshallers.js') as {
    MakeSimpleMarshaller: (t: string) => { marshall: (ps: unknown, d: unknown) => void };
    __vigilPatched?: boolean;
  };
  if (marshallers.__vigilPatched) return;
  const original = marshallers.MakeSimpleMarshaller;
  marshallers.MakeSimpleMarshaller = (t: string) => {
    const m = original(t);
    if (!'ynqiu'.includes(t)) return m;
    const marshall = m.marshall.bind(m);
    m.marshall = (ps, d) => marshall(ps, typeof d === 'string' && /^-?\d+$/.test(d) ? Number(d) : d);
    return m;
  };
  marshallers.__vigilPatched = true;
}
patchIntegerKeys();

export const ADAPTER_PATH = '/org/bluez/hci0';

interface PropDecl {
  signature: string;
  access?: 'read' | 'readwrite';
}
type PropValues = Record<string, unknown>;

function bluezError(name: string, text: string): Error {
  // doc/org.bluez.*.rst "Possible errors"
  return new DBusError(`org.bluez.Error.${name}`, text);
}

/**
 * Base for the exported objects: dbus-next's Interface for methods, signals and introspection;
 * properties come from values() so optional ones (Name, RSSI, ServiceData...) are omitted when
 * absent, as BlueZ does, instead of failing GetAll.
 */
abstract class BluezInterface extends Interface {
  static props: Record<string, PropDecl> = {};
  abstract values(): PropValues;
  /** Properties.Set; throws a DBusError when not writable */
  setProp(name: string, _value: unknown): void {
    throw new DBusError('org.freedesktop.DBus.Error.PropertyReadOnly', `Property ${name} is read-only`);
  }
  decls(): Record<string, PropDecl> {
    return (this.constructor as typeof BluezInterface).props;
  }
  variants(): Record<string, Variant> {
    const decls = this.decls();
    const out: Record<string, Variant> = {};
    for (const [k, v] of Object.entries(this.values())) {
      const d = decls[k];
      if (v !== undefined && d) out[k] = new Variant(d.signature, v);
    }
    return out;
  }
  changed(values: PropValues): void {
    const decls = this.decls();
    const out: Record<string, Variant> = {};
    for (const [k, v] of Object.entries(values)) {
      const d = decls[k];
      if (v !== undefined && d) out[k] = new Variant(d.signature, v);
    }
    // PropertiesChanged (D-Bus spec, org.freedesktop.DBus.Properties); ServiceObject builds the signal
    (this as unknown as { $emitter: { emit(e: string, c: unknown, i: string[]): void } }).$emitter.emit(
      'properties-changed',
      out,
      [],
    );
  }
}

function configure(
  cls: { props: Record<string, PropDecl> },
  props: Record<string, PropDecl>,
  methods: Record<string, { inSignature?: string; outSignature?: string }>,
  signals: Record<string, { signature: string }> = {},
): void {
  cls.props = props;
  // every property is declared for introspection; Get/GetAll/Set are answered by VirtualBluez
  const properties: Record<string, { signature: string; access: 'read' | 'readwrite' }> = {};
  for (const [k, v] of Object.entries(props)) properties[k] = { signature: v.signature, access: v.access ?? 'read' };
  (cls as unknown as { configureMembers: (m: unknown) => void }).configureMembers({ properties, methods, signals });
}

const buf = (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const serialize = (address: string) => `dev_${address.replace(/:/g, '_')}`;
const hex4 = (n: number) => n.toString(16).padStart(4, '0');

// ---------------------------------------------------------------------------------------------
// org.freedesktop.DBus.ObjectManager at / (doc/org.bluez.*.rst: "Object path" sections; D-Bus spec)

class ObjectManager1 extends BluezInterface {
  constructor(private readonly owner: VirtualBluez) {
    super('org.freedesktop.DBus.ObjectManager');
  }
  values(): PropValues {
    return {};
  }
  GetManagedObjects(): Record<string, Record<string, Record<string, Variant>>> {
    return this.owner.managedObjects();
  }
  InterfacesAdded(
    path: string,
    ifaces: Record<string, Record<string, Variant>>,
  ): [string, Record<string, Record<string, Variant>>] {
    return [path, ifaces];
  }
  InterfacesRemoved(path: string, names: string[]): [string, string[]] {
    return [path, names];
  }
}
configure(
  ObjectManager1,
  {},
  { GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}' } },
  { InterfacesAdded: { signature: 'oa{sa{sv}}' }, InterfacesRemoved: { signature: 'oas' } },
);

// org.bluez.AgentManager1 at /org/bluez (doc/org.bluez.AgentManager.rst). The calls are answered
// by VirtualBluez.handleAgentManager, which needs the caller's bus name (an agent is an object of
// the client that registered it); this class only declares the members for introspection.
class AgentManager1 extends BluezInterface {
  constructor() {
    super('org.bluez.AgentManager1');
  }
  values(): PropValues {
    return {};
  }
  RegisterAgent(_agent: string, _capability: string): void {}
  UnregisterAgent(_agent: string): void {}
  RequestDefaultAgent(_agent: string): void {}
}

/** A registered pairing agent: the object `path` of the bus client `owner`. */
export interface RegisteredAgent {
  owner: string;
  path: string;
  capability: string;
}

/** doc/org.bluez.AgentManager.rst RegisterAgent capabilities */
const AGENT_CAPABILITIES = ['DisplayOnly', 'DisplayYesNo', 'KeyboardOnly', 'NoInputNoOutput', 'KeyboardDisplay', ''];
configure(
  AgentManager1,
  {},
  {
    RegisterAgent: { inSignature: 'os' },
    UnregisterAgent: { inSignature: 'o' },
    RequestDefaultAgent: { inSignature: 'o' },
  },
);

// ---------------------------------------------------------------------------------------------
// org.bluez.Adapter1 (doc/org.bluez.Adapter.rst)

class Adapter1 extends BluezInterface {
  constructor(private readonly owner: VirtualBluez) {
    super('org.bluez.Adapter1');
  }
  values(): PropValues {
    const a = this.owner.adapter;
    return {
      Address: a.address,
      AddressType: 'public',
      Name: a.name,
      Alias: a.alias,
      Class: 0,
      Powered: a.powered,
      PowerState: a.powered ? 'on' : 'off',
      Discoverable: false,
      DiscoverableTimeout: 180,
      Pairable: true,
      PairableTimeout: 0,
      Discovering: a.discovering,
      UUIDs: ['00001800-0000-1000-8000-00805f9b34fb', '00001801-0000-1000-8000-00805f9b34fb'],
      Roles: ['central', 'peripheral'],
    };
  }
  override setProp(name: string, value: unknown): void {
    if (name === 'Powered' && typeof value === 'boolean') {
      this.owner.setPowered(value);
      return;
    }
    if (name === 'Alias' && typeof value === 'string') {
      this.owner.adapter.alias = value;
      this.changed({ Alias: value });
      return;
    }
    if (name === 'Discoverable' || name === 'Pairable') return;
    super.setProp(name, value);
  }
  StartDiscovery(): void {
    this.owner.startDiscovery();
  }
  StopDiscovery(): void {
    this.owner.stopDiscovery();
  }
  SetDiscoveryFilter(filter: Record<string, Variant>): void {
    this.owner.adapter.filter = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, v.value]));
  }
  GetDiscoveryFilters(): string[] {
    return ['UUIDs', 'RSSI', 'Pathloss', 'Transport', 'DuplicateData', 'Discoverable', 'Pattern'];
  }
  RemoveDevice(path: string): void {
    this.owner.removeDevicePath(path);
  }
}
configure(
  Adapter1,
  {
    Address: { signature: 's' },
    AddressType: { signature: 's' },
    Name: { signature: 's' },
    Alias: { signature: 's', access: 'readwrite' },
    Class: { signature: 'u' },
    Powered: { signature: 'b', access: 'readwrite' },
    PowerState: { signature: 's' },
    Discoverable: { signature: 'b', access: 'readwrite' },
    DiscoverableTimeout: { signature: 'u', access: 'readwrite' },
    Pairable: { signature: 'b', access: 'readwrite' },
    PairableTimeout: { signature: 'u', access: 'readwrite' },
    Discovering: { signature: 'b' },
    UUIDs: { signature: 'as' },
    Roles: { signature: 'as' },
  },
  {
    StartDiscovery: {},
    StopDiscovery: {},
    SetDiscoveryFilter: { inSignature: 'a{sv}' },
    GetDiscoveryFilters: { outSignature: 'as' },
    RemoveDevice: { inSignature: 'o' },
  },
);

// ---------------------------------------------------------------------------------------------
// org.bluez.Device1 (doc/org.bluez.Device.rst)

class Device1 extends BluezInterface {
  trusted = false;
  servicesResolved = false;
  constructor(
    private readonly owner: VirtualBluez,
    readonly dev: DeviceState,
  ) {
    super('org.bluez.Device1');
  }
  values(): PropValues {
    const p = this.dev.peripheral;
    const uuids = new Set(p.advertisement.serviceUuids.map(fullUuid));
    if (this.servicesResolved) for (const s of p.services) uuids.add(fullUuid(s.uuid));
    const serviceData: Record<string, Variant> = {};
    for (const [k, v] of Object.entries(p.advertisement.serviceData))
      serviceData[fullUuid(k)] = new Variant('ay', buf(v));
    const manufacturerData: Record<string, Variant> = {};
    for (const [k, v] of Object.entries(p.advertisement.manufacturerData))
      manufacturerData[k] = new Variant('ay', buf(v));
    return {
      Address: p.address,
      AddressType: p.addressType,
      Name: p.name,
      Alias: p.name ?? p.address.replace(/:/g, '-'),
      Paired: p.paired,
      Bonded: p.paired,
      Trusted: this.trusted,
      Blocked: false,
      LegacyPairing: false,
      RSSI: this.dev.rssiVisible ? p.rssi : undefined,
      TxPower: p.txPower,
      Connected: p.connected,
      UUIDs: [...uuids],
      Adapter: ADAPTER_PATH,
      ServiceData: Object.keys(serviceData).length ? serviceData : undefined,
      ManufacturerData: Object.keys(manufacturerData).length ? manufacturerData : undefined,
      ServicesResolved: this.servicesResolved,
    };
  }
  override setProp(name: string, value: unknown): void {
    if (name === 'Trusted' && typeof value === 'boolean') {
      this.trusted = value;
      this.changed({ Trusted: value });
      return;
    }
    if (name === 'Blocked' || name === 'Alias' || name === 'WakeAllowed') return;
    super.setProp(name, value);
  }
  Connect(): Promise<void> {
    return this.owner.connect(this.dev);
  }
  Disconnect(): Promise<void> {
    return this.owner.disconnect(this.dev, 'local');
  }
  ConnectProfile(_uuid: string): Promise<void> {
    return this.owner.connect(this.dev);
  }
  DisconnectProfile(_uuid: string): Promise<void> {
    return this.owner.disconnect(this.dev, 'local');
  }
  async Pair(): Promise<void> {
    const p = this.dev.peripheral;
    if (p.paired) throw bluezError('AlreadyExists', 'Already Exists');
    if (!p.connectable || !p.inRange) throw bluezError('ConnectionAttemptFailed', 'Page Timeout');
    const refuse = p.faults.refusePairing;
    if (refuse) {
      if (refuse.times !== undefined && --refuse.times <= 0) delete p.faults.refusePairing;
      const error = refuse.error ?? 'AuthenticationRejected';
      throw bluezError(error, defaultText(error));
    }
    await this.owner.authenticate(this.dev);
    p.paired = true;
    p.bondLost = false;
    this.changed({ Paired: true, Bonded: true });
  }
  CancelPair(): void {
    throw bluezError('DoesNotExist', 'Does Not Exist');
  }
}
configure(
  Device1,
  {
    Address: { signature: 's' },
    AddressType: { signature: 's' },
    Name: { signature: 's' },
    Alias: { signature: 's', access: 'readwrite' },
    Paired: { signature: 'b' },
    Bonded: { signature: 'b' },
    Trusted: { signature: 'b', access: 'readwrite' },
    Blocked: { signature: 'b', access: 'readwrite' },
    LegacyPairing: { signature: 'b' },
    RSSI: { signature: 'n' },
    TxPower: { signature: 'n' },
    Connected: { signature: 'b' },
    UUIDs: { signature: 'as' },
    Adapter: { signature: 'o' },
    ServiceData: { signature: 'a{sv}' },
    ManufacturerData: { signature: 'a{qv}' },
    ServicesResolved: { signature: 'b' },
  },
  {
    Connect: {},
    Disconnect: {},
    ConnectProfile: { inSignature: 's' },
    DisconnectProfile: { inSignature: 's' },
    Pair: {},
    CancelPair: {},
  },
);

// ---------------------------------------------------------------------------------------------
// org.bluez.GattService1 / GattCharacteristic1 (doc/org.bluez.GattService.rst, GattCharacteristic.rst)

class GattService1 extends BluezInterface {
  constructor(
    readonly devicePath: string,
    readonly spec: ServiceSpec,
    readonly handle: number,
  ) {
    super('org.bluez.GattService1');
  }
  values(): PropValues {
    return {
      UUID: fullUuid(this.spec.uuid),
      Primary: this.spec.primary ?? true,
      Device: this.devicePath,
      Includes: [],
      Handle: this.handle,
    };
  }
}
configure(
  GattService1,
  {
    UUID: { signature: 's' },
    Primary: { signature: 'b' },
    Device: { signature: 'o' },
    Includes: { signature: 'ao' },
    Handle: { signature: 'q' },
  },
  {},
);

class GattCharacteristic1 extends BluezInterface {
  value: Uint8Array;
  notifying = false;
  constructor(
    readonly dev: DeviceState,
    readonly servicePath: string,
    readonly service: ServiceSpec,
    readonly spec: CharacteristicSpec,
    readonly handle: number,
  ) {
    super('org.bluez.GattCharacteristic1');
    this.value = spec.value ?? new Uint8Array(0);
  }
  values(): PropValues {
    return {
      UUID: fullUuid(this.spec.uuid),
      Service: this.servicePath,
      Value: buf(this.value),
      Notifying: this.notifying,
      Flags: this.spec.flags,
      Handle: this.handle,
      MTU: 23,
    };
  }
  private link(): LinkImpl {
    const l = this.dev.link;
    if (!l || !l.up) throw bluezError('NotConnected', 'Not Connected');
    return l;
  }
  /**
   * an encrypted characteristic before bonding: the peripheral answers ATT 0x05 Insufficient
   * Authentication and bluetoothd replies NotPermitted "Not paired" (src/gatt-client.c
   * create_gatt_dbus_error, for reads, writes and the CCCD write of StartNotify alike)
   */
  private secure(): void {
    if (!this.dev.peripheral.linkSecure) throw bluezError('NotPermitted', 'Not paired');
  }
  async ReadValue(options: Record<string, Variant>): Promise<Buffer> {
    const link = this.link();
    if (!this.spec.flags.includes('read') && !this.spec.flags.includes('encrypt-read'))
      throw bluezError('NotPermitted', 'Read not permitted');
    this.secure();
    let value: Uint8Array;
    try {
      value = this.spec.onRead ? await this.spec.onRead(link) : this.value;
    } catch (e) {
      throw attToDbus(e);
    }
    if (!link.up) throw bluezError('Failed', 'Not connected');
    this.value = value;
    const offset = Number(options.offset?.value ?? 0);
    if (offset > value.length) throw bluezError('InvalidOffset', 'Invalid offset');
    return buf(value.subarray(offset));
  }
  async WriteValue(value: Buffer, options: Record<string, Variant>): Promise<void> {
    const link = this.link();
    const requested: unknown = options.type?.value;
    const type = typeof requested === 'string' ? requested : 'request';
    const f = this.spec.flags;
    const allowed =
      type === 'command'
        ? f.includes('write-without-response')
        : f.includes('write') || f.includes('encrypt-write') || f.includes('reliable-write');
    if (!allowed) throw bluezError('NotPermitted', 'Write not permitted');
    this.secure();
    const bytes = new Uint8Array(value);
    const p = this.dev.peripheral;
    const record = {
      service: normalizeUuid(this.service.uuid),
      characteristic: normalizeUuid(this.spec.uuid),
      value: bytes,
      at: Date.now(),
    };
    p.writes.push(record);
    p.emit('write', record);
    try {
      await this.spec.onWrite?.(bytes, link);
    } catch (e) {
      throw attToDbus(e);
    }
  }
  StartNotify(): void {
    const link = this.link();
    const f = this.spec.flags;
    if (!f.includes('notify') && !f.includes('indicate'))
      throw bluezError('NotSupported', 'Operation is not supported');
    if (this.notifying) return;
    this.secure();
    this.notifying = true;
    this.changed({ Notifying: true });
    // the CCCD write completes before the peripheral reacts (GATT 4.10/4.11): after our reply
    const onSubscribe = this.spec.onSubscribe;
    if (onSubscribe) setImmediate(() => link.up && this.notifying && onSubscribe(link));
  }
  StopNotify(): void {
    if (!this.notifying) throw bluezError('Failed', 'No notify session started');
    this.notifying = false;
    this.changed({ Notifying: false });
    const link = this.dev.link;
    if (link?.up) this.spec.onUnsubscribe?.(link);
  }
  /** a notification or indication arrived: BlueZ updates Value and emits PropertiesChanged */
  deliver(value: Uint8Array): void {
    this.value = value;
    this.changed({ Value: buf(value) });
  }
}
configure(
  GattCharacteristic1,
  {
    UUID: { signature: 's' },
    Service: { signature: 'o' },
    Value: { signature: 'ay' },
    Notifying: { signature: 'b' },
    Flags: { signature: 'as' },
    Handle: { signature: 'q' },
    MTU: { signature: 'q' },
  },
  {
    ReadValue: { inSignature: 'a{sv}', outSignature: 'ay' },
    WriteValue: { inSignature: 'aya{sv}' },
    StartNotify: {},
    StopNotify: {},
  },
);

function attToDbus(e: unknown): Error {
  if (e instanceof AttError)
    return bluezError('Failed', `Operation failed with ATT error: 0x${e.attCode.toString(16).padStart(2, '0')}`);
  if (e instanceof DBusError) return e;
  return bluezError('Failed', e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------------------------

class LinkImpl implements PeripheralLink {
  up = true;
  private timers = new Set<NodeJS.Timeout>();
  constructor(
    private readonly owner: VirtualBluez,
    private readonly dev: DeviceState,
  ) {}
  private char(service: string, characteristic: string): GattCharacteristic1 | undefined {
    const s = normalizeUuid(service);
    const c = normalizeUuid(characteristic);
    return this.dev.chars.find((x) => normalizeUuid(x.service.uuid) === s && normalizeUuid(x.spec.uuid) === c);
  }
  subscribed(service: string, characteristic: string): boolean {
    return this.up && (this.char(service, characteristic)?.notifying ?? false);
  }
  notify(service: string, characteristic: string, value: Uint8Array): boolean {
    const ch = this.char(service, characteristic);
    if (!this.up || !ch?.notifying) return false;
    const p = this.dev.peripheral;
    const f = p.faults;
    if (f.dropLinkAfter !== undefined) {
      if (f.dropLinkAfter <= 0) {
        delete f.dropLinkAfter;
        this.drop();
        return false;
      }
      f.dropLinkAfter -= 1;
    }
    const garbage = f.garbage === true ? [0xde, 0xad, 0xbe, 0xef] : f.garbage || undefined;
    ch.deliver(garbage ? Uint8Array.from(garbage) : value);
    return true;
  }
  later(ms: number, fn: () => void): void {
    if (!this.up) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.up) fn();
    }, ms);
    this.timers.add(t);
  }
  drop(): void {
    if (this.up) void this.owner.disconnect(this.dev, 'remote');
  }
  close(): void {
    this.up = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

interface DeviceState {
  peripheral: VirtualPeripheral;
  path: string;
  iface?: Device1;
  exported: boolean;
  rssiVisible: boolean;
  connecting?: { cancel: () => void };
  link?: LinkImpl;
  services: GattService1[];
  chars: GattCharacteristic1[];
  listeners: Array<() => void>;
}

export interface AdapterOptions {
  address?: string;
  name?: string;
  /** delay before devices in range show up after StartDiscovery */
  discoveryDelayMs?: number;
  /** advertising interval while discovering (RSSI/ServiceData PropertiesChanged); 0 = only on change */
  advertiseIntervalMs?: number;
  /** simulated connection setup time */
  connectDelayMs?: number;
  /** how long Connect takes to fail for a non-connectable or absent device */
  connectFailMs?: number;
  /** how long bluetoothd waits for the agent's answer (the SMP time-out is 30 s) */
  agentTimeoutMs?: number;
}

export interface AdapterState {
  address: string;
  name: string;
  alias: string;
  powered: boolean;
  discovering: boolean;
  present: boolean;
  filter: Record<string, unknown>;
}

/**
 * The BlueZ side of the virtual stack: owns org.bluez on a (private) bus connection and maps
 * VirtualPeripherals to Device1/GattService1/GattCharacteristic1 objects.
 */
export class VirtualBluez {
  readonly adapter: AdapterState;
  private readonly devices = new Map<string, DeviceState>();
  private readonly objectManager: ObjectManager1;
  private readonly adapterIface: Adapter1;
  private readonly objects = new Map<string, BluezInterface[]>();
  private discoveryTimers: NodeJS.Timeout[] = [];
  private readonly opts: Required<AdapterOptions>;
  /** agents registered with this bluetoothd (a restarted one knows none) */
  readonly agents: RegisteredAgent[] = [];
  private defaultAgent: RegisteredAgent | undefined;
  /** agent calls made while pairing, for tests: [method, device address] */
  readonly agentCalls: Array<{ method: string; address: string }> = [];

  private constructor(
    readonly bus: MessageBus,
    opts: AdapterOptions,
  ) {
    this.opts = {
      address: opts.address ?? '00:1A:7D:DA:71:13',
      name: opts.name ?? 'vigil-gateway',
      discoveryDelayMs: opts.discoveryDelayMs ?? 30,
      advertiseIntervalMs: opts.advertiseIntervalMs ?? 500,
      connectDelayMs: opts.connectDelayMs ?? 20,
      connectFailMs: opts.connectFailMs ?? 200,
      agentTimeoutMs: opts.agentTimeoutMs ?? 30_000,
    };
    this.adapter = {
      address: this.opts.address,
      name: this.opts.name,
      alias: this.opts.name,
      powered: true,
      discovering: false,
      present: true,
      filter: {},
    };
    this.objectManager = new ObjectManager1(this);
    this.adapterIface = new Adapter1(this);
  }

  /** connects to the bus at `address`, owns org.bluez and exports the adapter */
  static async serve(address: string, opts: AdapterOptions = {}): Promise<VirtualBluez> {
    const bus = dbus.sessionBus({ busAddress: address });
    const vb = new VirtualBluez(bus, opts);
    // the private dbus-daemon may go first at shutdown (same process group): stop, never crash
    bus.on('error', () => void vb.close().catch(() => {}));
    bus.addMethodHandler((msg: DbusMessage) => vb.handleProperties(msg));
    bus.addMethodHandler((msg: DbusMessage) => vb.handleAgentManager(msg));
    bus.export('/', vb.objectManager);
    vb.addObject('/org/bluez', [new AgentManager1()], false);
    vb.addObject(ADAPTER_PATH, [vb.adapterIface], false);
    const reply = await bus.requestName('org.bluez', dbus.NameFlag.DO_NOT_QUEUE);
    if (reply !== dbus.RequestNameReply.PRIMARY_OWNER)
      throw new Error(`cannot own org.bluez on ${address} (reply ${reply})`);
    return vb;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection for callers that `void` it
  async close(): Promise<void> {
    for (const t of this.discoveryTimers) clearTimeout(t);
    this.discoveryTimers = [];
    for (const d of this.devices.values()) {
      d.connecting?.cancel();
      d.link?.close();
      // bluetoothd gone: the links it held are gone too (the controller disconnects them)
      if (d.peripheral.connected) {
        d.peripheral.connected = false;
        d.peripheral.onDisconnected();
        d.peripheral.emit('disconnected');
      }
      for (const off of d.listeners) off();
    }
    clearInterval(this.advertiseTimer);
    // calls still queued on the socket would be answered on a closed stream (an uncaught throw)
    (this.bus as unknown as { send: (m: DbusMessage) => void }).send = () => undefined;
    this.bus.disconnect();
  }

  /** AgentManager1 calls, answered here because the agent belongs to the calling bus name */
  handleAgentManager(msg: DbusMessage): boolean {
    if (msg.interface !== 'org.bluez.AgentManager1' || msg.type !== dbus.MessageType.METHOD_CALL) return false;
    const body = msg.body as unknown[];
    const path = String(body[0]);
    const owner = msg.sender;
    const reply = () => this.bus.send(Message.newMethodReturn(msg, '', []));
    const error = (name: string, text: string) =>
      this.bus.send(
        (Message.newError as unknown as (m: DbusMessage, n: string, t: string) => DbusMessage)(
          msg,
          `org.bluez.Error.${name}`,
          text,
        ),
      );
    const mine = this.agents.find((a) => a.owner === owner && a.path === path);
    if (msg.member === 'RegisterAgent') {
      const capability = String(body[1]);
      if (!AGENT_CAPABILITIES.includes(capability)) error('InvalidArguments', 'Invalid Arguments in method call');
      else if (this.agents.some((a) => a.owner === owner)) error('AlreadyExists', 'Already Exists');
      else {
        this.agents.push({ owner, path, capability: capability || 'KeyboardDisplay' });
        reply();
      }
    } else if (msg.member === 'UnregisterAgent') {
      if (!mine) error('DoesNotExist', 'Does Not Exist');
      else {
        this.agents.splice(this.agents.indexOf(mine), 1);
        if (this.defaultAgent === mine) this.defaultAgent = undefined;
        reply();
      }
    } else if (msg.member === 'RequestDefaultAgent') {
      if (!mine) error('DoesNotExist', 'Does Not Exist');
      else {
        this.defaultAgent = mine;
        reply();
      }
    } else return false;
    return true;
  }

  /**
   * The pairing's user interaction through the agent (src/device.c, src/agent.c): Just Works asks
   * RequestConfirmation (LE Secure Connections), passkey entry asks RequestPasskey and compares it
   * with the code the device displays. No agent: bluetoothd logs "No agent available for request
   * type" and the pairing fails with AuthenticationFailed. An agent error Rejected/Canceled maps to
   * AuthenticationRejected/Canceled; an agent that does not answer to AuthenticationTimeout.
   */
  async authenticate(dev: DeviceState): Promise<void> {
    const p = dev.peripheral;
    const agent = this.defaultAgent ?? this.agents[0];
    if (!agent) throw bluezError('AuthenticationFailed', 'Authentication Failed');
    const passkeyEntry = p.pairingMethod === 'passkey';
    const method = passkeyEntry ? 'RequestPasskey' : 'RequestConfirmation';
    this.agentCalls.push({ method, address: p.address });
    let answer: DbusMessage | null;
    try {
      answer = await withTimeoutOrNull(
        this.bus.call(
          new Message({
            destination: agent.owner,
            path: agent.path,
            interface: 'org.bluez.Agent1',
            member: method,
            signature: passkeyEntry ? 'o' : 'ou',
            body: passkeyEntry ? [dev.path] : [dev.path, Math.floor(Math.random() * 1_000_000)],
          }),
        ),
        this.opts.agentTimeoutMs,
      );
    } catch (e) {
      const type = e instanceof DBusError ? e.type : '';
      if (/ServiceUnknown|NoReply|UnknownObject|NameHasNoOwner/.test(type)) {
        // the agent's owner left the bus: bluetoothd forgets the agent
        this.agents.splice(this.agents.indexOf(agent), 1);
        if (this.defaultAgent === agent) this.defaultAgent = undefined;
        throw bluezError('AuthenticationFailed', 'Authentication Failed');
      }
      if (type === 'org.bluez.Error.Canceled') throw bluezError('AuthenticationCanceled', 'Authentication Canceled');
      throw bluezError('AuthenticationRejected', 'Authentication Rejected');
    }
    if (answer === null) throw bluezError('AuthenticationTimeout', 'Authentication Timeout');
    if (passkeyEntry) {
      const entered = (answer.body as unknown[] | undefined)?.[0];
      // a wrong passkey fails the SMP confirm value check (Core Vol 3 Part H 2.3.5.5)
      if (entered !== p.passkey) throw bluezError('AuthenticationFailed', 'Authentication Failed');
    }
  }

  // ---- control API --------------------------------------------------------------------------

  addPeripheral(p: VirtualPeripheral): void {
    if (this.devices.has(p.address)) throw new Error(`peripheral ${p.address} already present`);
    const dev: DeviceState = {
      peripheral: p,
      path: `${ADAPTER_PATH}/${serialize(p.address)}`,
      exported: false,
      rssiVisible: false,
      services: [],
      chars: [],
      listeners: [],
    };
    this.devices.set(p.address, dev);
    const onAdv = () => this.onAdvertisement(dev);
    const onDrop = () => void this.disconnect(dev, 'remote');
    p.on('advertisement', onAdv);
    p.on('drop-request', onDrop);
    dev.listeners.push(
      () => p.off('advertisement', onAdv),
      () => p.off('drop-request', onDrop),
    );
    // bonded devices are known to BlueZ without discovery (stored in /var/lib/bluetooth)
    if (p.paired && this.adapter.present) this.exportDevice(dev, false);
    else if (this.adapter.discovering && p.inRange) this.exportDevice(dev, true);
  }

  async removePeripheral(address: string): Promise<void> {
    const dev = this.devices.get(address.toUpperCase());
    if (!dev) return;
    await this.disconnect(dev, 'remote');
    this.unexportDevice(dev);
    for (const off of dev.listeners) off();
    this.devices.delete(dev.peripheral.address);
  }

  peripheral(address: string): VirtualPeripheral | undefined {
    return this.devices.get(address.toUpperCase())?.peripheral;
  }

  peripherals(): VirtualPeripheral[] {
    return [...this.devices.values()].map((d) => d.peripheral);
  }

  setPowered(powered: boolean): void {
    if (this.adapter.powered === powered) return;
    this.adapter.powered = powered;
    if (!powered) {
      if (this.adapter.discovering) this.stopDiscovery();
      for (const d of this.devices.values()) void this.disconnect(d, 'local');
    }
    this.adapterIface.changed({ Powered: powered, PowerState: powered ? 'on' : 'off' });
  }

  /** unplugs (false) or replugs (true) the adapter: hci0 disappears with InterfacesRemoved */
  setAdapterPresent(present: boolean): void {
    if (this.adapter.present === present) return;
    if (!present) {
      this.setPowered(false);
      for (const d of this.devices.values()) this.unexportDevice(d);
      this.removeObject(ADAPTER_PATH);
      this.adapter.present = false;
    } else {
      this.adapter.present = true;
      this.adapter.powered = true;
      this.addObject(ADAPTER_PATH, [this.adapterIface], true);
      for (const d of this.devices.values()) if (d.peripheral.paired) this.exportDevice(d, false);
    }
  }

  // ---- Adapter1 -----------------------------------------------------------------------------

  private advertiseTimer: NodeJS.Timeout | undefined;

  /** advertising reports sent to discovery clients per device address (tests: "the box has heard it") */
  private readonly reported = new Map<string, number>();
  advertisementsReported(address: string): number {
    return this.reported.get(address.toUpperCase()) ?? 0;
  }

  startDiscovery(): void {
    if (!this.adapter.powered) throw bluezError('NotReady', 'Resource Not Ready');
    if (this.adapter.discovering) throw bluezError('InProgress', 'Operation already in progress');
    this.adapter.discovering = true;
    this.adapterIface.changed({ Discovering: true });
    this.discoveryTimers.push(
      setTimeout(() => {
        for (const d of this.devices.values()) if (d.peripheral.inRange) this.exportDevice(d, true);
      }, this.opts.discoveryDelayMs),
    );
    if (this.opts.advertiseIntervalMs > 0) {
      this.advertiseTimer = setInterval(() => {
        for (const d of this.devices.values()) {
          if (!d.peripheral.inRange || d.peripheral.connected) continue;
          // a device removed (RemoveDevice) while discovering is found again on its next advertisement
          if (!d.exported) this.exportDevice(d, true);
          else this.reportAdvertisement(d, true);
        }
      }, this.opts.advertiseIntervalMs);
    }
  }

  stopDiscovery(): void {
    if (!this.adapter.powered) throw bluezError('NotReady', 'Resource Not Ready');
    if (!this.adapter.discovering) throw bluezError('Failed', 'No discovery started');
    for (const t of this.discoveryTimers) clearTimeout(t);
    this.discoveryTimers = [];
    clearInterval(this.advertiseTimer);
    this.adapter.discovering = false;
    this.adapterIface.changed({ Discovering: false });
  }

  removeDevicePath(path: string): void {
    const dev = [...this.devices.values()].find((d) => d.path === path && d.exported);
    if (!dev) throw bluezError('DoesNotExist', 'Does Not Exist');
    void this.disconnect(dev, 'local');
    // the bond goes with the object; a device heard again is a new, unpaired one
    dev.peripheral.paired = false;
    dev.peripheral.bondLost = false;
    this.unexportDevice(dev);
  }

  private onAdvertisement(dev: DeviceState): void {
    const p = dev.peripheral;
    if (!this.adapter.discovering || !p.inRange) return;
    if (!dev.exported) this.exportDevice(dev, true);
    else this.reportAdvertisement(dev, false);
  }

  /** an advertising report while discovering: RSSI, and with DuplicateData the data again (Adapter1.SetDiscoveryFilter) */
  private reportAdvertisement(dev: DeviceState, periodic: boolean): void {
    const v = dev.iface?.values();
    if (!v || !dev.iface) return;
    const address = dev.peripheral.address;
    this.reported.set(address, (this.reported.get(address) ?? 0) + 1);
    const jitter = periodic ? Math.round(Math.random() * 4 - 2) : 0;
    dev.rssiVisible = true;
    dev.iface.changed({
      RSSI: dev.peripheral.rssi + jitter,
      ServiceData: v.ServiceData,
      ManufacturerData: v.ManufacturerData,
      UUIDs: v.UUIDs,
      Name: v.Name,
    });
  }

  // ---- Device1 ------------------------------------------------------------------------------

  async connect(dev: DeviceState): Promise<void> {
    const p = dev.peripheral;
    if (!this.adapter.powered) throw bluezError('NotReady', 'Resource Not Ready');
    if (dev.connecting) throw bluezError('InProgress', 'In Progress');
    if (p.connected) return;
    const refuse = p.faults.refuseConnect;
    if (refuse) {
      if (refuse.times !== undefined && --refuse.times <= 0) delete p.faults.refuseConnect;
      await sleep(this.opts.connectDelayMs);
      throw bluezError(refuse.error, refuse.message ?? defaultText(refuse.error));
    }
    await new Promise<void>((resolve, reject) => {
      const hang = p.faults.connectHang === true;
      const ok = p.connectable && p.inRange && !hang;
      const timer = hang
        ? undefined
        : setTimeout(
            () => {
              dev.connecting = undefined;
              if (ok) resolve();
              else reject(bluezError('Failed', 'le-connection-abort-by-local'));
            },
            ok ? this.opts.connectDelayMs : this.opts.connectFailMs,
          );
      dev.connecting = {
        cancel: () => {
          clearTimeout(timer);
          dev.connecting = undefined;
          reject(bluezError('Failed', 'Operation was cancelled'));
        },
      };
    });
    // link up: Connected, then primary service discovery, then ServicesResolved (doc/org.bluez.Device.rst)
    const link = new LinkImpl(this, dev);
    dev.link = link;
    p.connected = true;
    dev.iface?.changed({ Connected: true });
    this.exportGatt(dev);
    if (dev.iface) {
      dev.iface.servicesResolved = true;
      dev.iface.changed({ ServicesResolved: true, UUIDs: dev.iface.values().UUIDs });
    }
    p.onConnected(link);
    p.emit('connected');
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection for callers that `void` it
  async disconnect(dev: DeviceState, _by: 'local' | 'remote'): Promise<void> {
    if (dev.connecting) {
      dev.connecting.cancel();
      return;
    }
    const p = dev.peripheral;
    if (!p.connected) return;
    dev.link?.close();
    dev.link = undefined;
    p.connected = false;
    for (const c of dev.chars) c.notifying = false;
    if (dev.iface) {
      dev.iface.servicesResolved = false;
      dev.iface.changed({ ServicesResolved: false });
      dev.iface.changed({ Connected: false });
    }
    // non-bonded devices lose their GATT objects on disconnect (no attribute cache)
    this.unexportGatt(dev);
    p.onDisconnected();
    p.emit('disconnected');
  }

  // ---- object tree --------------------------------------------------------------------------

  private exportDevice(dev: DeviceState, discovered: boolean): void {
    if (dev.exported || !this.adapter.present) return;
    dev.iface ??= new Device1(this, dev);
    dev.rssiVisible = discovered;
    dev.exported = true;
    this.addObject(dev.path, [dev.iface], true);
  }

  private unexportDevice(dev: DeviceState): void {
    if (!dev.exported) return;
    this.unexportGatt(dev);
    this.removeObject(dev.path);
    dev.exported = false;
  }

  private exportGatt(dev: DeviceState): void {
    // GAP 0x1800 and GATT 0x1801 occupy the first handles on real devices
    let handle = 0x0010;
    for (const s of dev.peripheral.services) {
      const sPath = `${dev.path}/service${hex4(handle)}`;
      const svc = new GattService1(dev.path, s, handle);
      handle += 1;
      dev.services.push(svc);
      this.addObject(sPath, [svc], true);
      for (const c of s.characteristics) {
        const cPath = `${sPath}/char${hex4(handle)}`;
        const ch = new GattCharacteristic1(dev, sPath, s, c, handle);
        handle += c.flags.includes('notify') || c.flags.includes('indicate') ? 3 : 2;
        dev.chars.push(ch);
        this.addObject(cPath, [ch], true);
      }
    }
  }

  private unexportGatt(dev: DeviceState): void {
    const paths = [...this.objects.keys()]
      .filter((p) => p.startsWith(`${dev.path}/`))
      .sort((a, b) => b.length - a.length);
    for (const p of paths) this.removeObject(p);
    dev.services = [];
    dev.chars = [];
  }

  private addObject(path: string, ifaces: BluezInterface[], announce: boolean): void {
    this.objects.set(path, ifaces);
    for (const i of ifaces) this.bus.export(path, i);
    if (announce) {
      const added: Record<string, Record<string, Variant>> = {};
      for (const i of ifaces) added[ifaceName(i)] = i.variants();
      this.objectManager.InterfacesAdded(path, added);
    }
  }

  private removeObject(path: string): void {
    const ifaces = this.objects.get(path);
    if (!ifaces) return;
    this.objects.delete(path);
    (this.bus.unexport as (path: string) => void).call(this.bus, path);
    this.objectManager.InterfacesRemoved(path, ifaces.map(ifaceName));
  }

  managedObjects(): Record<string, Record<string, Record<string, Variant>>> {
    const out: Record<string, Record<string, Record<string, Variant>>> = {};
    for (const [path, ifaces] of this.objects) {
      const entry: Record<string, Record<string, Variant>> = {};
      for (const i of ifaces) entry[ifaceName(i)] = i.variants();
      out[path] = entry;
    }
    return out;
  }

  /** org.freedesktop.DBus.Properties Get/GetAll/Set for our objects (absent optional properties omitted) */
  private handleProperties(msg: DbusMessage): boolean {
    if (msg.interface !== 'org.freedesktop.DBus.Properties' || msg.type !== dbus.MessageType.METHOD_CALL) return false;
    const ifaces = this.objects.get(msg.path);
    if (!ifaces) return false;
    const body = msg.body as unknown[];
    const iface = ifaces.find((i) => ifaceName(i) === body[0]);
    const reply = (sig: string, b: unknown[]) => this.bus.send(Message.newMethodReturn(msg, sig, b));
    const error = (name: string, text: string) =>
      this.bus.send(
        (Message.newError as unknown as (m: DbusMessage, n: string, t: string) => DbusMessage)(msg, name, text),
      );
    try {
      if (msg.member === 'GetAll') {
        reply('a{sv}', [iface ? iface.variants() : {}]);
      } else if (msg.member === 'Get') {
        const v = iface?.variants()[String(body[1])];
        if (!v) error('org.freedesktop.DBus.Error.InvalidArgs', `No such property '${String(body[1])}'`);
        else reply('v', [v]);
      } else if (msg.member === 'Set') {
        if (!iface) error('org.freedesktop.DBus.Error.InvalidArgs', `No such interface '${String(body[0])}'`);
        else {
          iface.setProp(String(body[1]), (body[2] as Variant).value);
          reply('', []);
        }
      } else return false;
    } catch (e) {
      if (e instanceof DBusError) error(e.type, e.text);
      else error('org.freedesktop.DBus.Error.Failed', String(e));
    }
    return true;
  }
}

function ifaceName(i: BluezInterface): string {
  return (i as unknown as { $name: string }).$name;
}

function defaultText(error: string): string {
  // bluetoothd src/error.c texts
  return (
    {
      Failed: 'Operation failed',
      InProgress: 'In Progress',
      NotReady: 'Resource Not Ready',
      AuthenticationFailed: 'Authentication Failed',
      AuthenticationRejected: 'Authentication Rejected',
      AuthenticationCanceled: 'Authentication Canceled',
      AuthenticationTimeout: 'Authentication Timeout',
      ConnectionAttemptFailed: 'Page Timeout',
    }[error] ?? error
  );
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** the promise's value, or null when it takes longer than ms */
function withTimeoutOrNull<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
