import { startPrivateBus, type PrivateBus, type PrivateBusOptions } from './bus-daemon';
import { VirtualBluez, type AdapterOptions } from './bluez-service';
import { VirtualPeripheral } from './peripheral';

export { VirtualBluez, ADAPTER_PATH, type AdapterOptions } from './bluez-service';
export { startPrivateBus, type PrivateBus } from './bus-daemon';
export * from './peripheral';

export interface VirtualBluezOptions {
  peripherals?: VirtualPeripheral[];
  adapter?: AdapterOptions;
  bus?: PrivateBusOptions;
}

/** A running virtual BlueZ: a private dbus-daemon plus the org.bluez service on it. */
export interface VirtualBluezHandle {
  /** D-Bus address of the private bus; give it to clients as DBUS_SYSTEM_BUS_ADDRESS */
  readonly address: string;
  /** { DBUS_SYSTEM_BUS_ADDRESS } for child processes */
  readonly env: { DBUS_SYSTEM_BUS_ADDRESS: string };
  /** the running bluetoothd; throws while it is killed */
  readonly bluez: VirtualBluez;
  /**
   * bluetoothd dies (crash, `systemctl restart bluetooth`): org.bluez leaves the bus, every link
   * drops, registered agents and discovery are forgotten. Bonds stay (/var/lib/bluetooth).
   */
  killBluetoothd(): Promise<void>;
  /** a new bluetoothd owns org.bluez again, with the same adapter and peripherals */
  startBluetoothd(): Promise<void>;
  add(...peripherals: VirtualPeripheral[]): void;
  remove(address: string): Promise<void>;
  /** the peripheral with this address (of this class when given); throws when absent or of another class */
  get(address: string): VirtualPeripheral;
  get<T extends VirtualPeripheral>(address: string, kind: abstract new (...args: never[]) => T): T;
  stop(): Promise<void>;
}

/**
 * Starts a private dbus-daemon and a virtual BlueZ on it with the given peripherals.
 * The real system bus is never touched: clients must use `address`.
 */
export async function startVirtualBluez(opts: VirtualBluezOptions = {}): Promise<VirtualBluezHandle> {
  const bus: PrivateBus = await startPrivateBus(opts.bus);
  let bluez: VirtualBluez;
  try {
    bluez = await VirtualBluez.serve(bus.address, opts.adapter);
  } catch (e) {
    await bus.stop();
    throw e;
  }
  for (const p of opts.peripherals ?? []) bluez.addPeripheral(p);
  function get(address: string): VirtualPeripheral;
  function get<T extends VirtualPeripheral>(address: string, kind: abstract new (...args: never[]) => T): T;
  function get(
    address: string,
    kind: abstract new (...args: never[]) => VirtualPeripheral = VirtualPeripheral,
  ): VirtualPeripheral {
    const p = alive?.peripheral(address) ?? peripherals.get(address.toUpperCase());
    if (!p) throw new Error(`no virtual peripheral ${address}`);
    if (!(p instanceof kind)) throw new Error(`virtual peripheral ${address} is not a ${kind.name}`);
    return p;
  }
  let stopped: Promise<void> | undefined;
  let alive: VirtualBluez | undefined = bluez;
  // peripherals outlive a bluetoothd restart; so does the adapter's state (its address, Powered)
  const peripherals = new Map<string, VirtualPeripheral>((opts.peripherals ?? []).map((p) => [p.address, p]));
  const running = (): VirtualBluez => {
    if (!alive) throw new Error('bluetoothd is not running');
    return alive;
  };
  return {
    address: bus.address,
    env: { DBUS_SYSTEM_BUS_ADDRESS: bus.address },
    get bluez() {
      return running();
    },
    async killBluetoothd() {
      const b = alive;
      alive = undefined;
      // peripherals added through `bluez` directly are kept too
      for (const p of b?.peripherals() ?? []) peripherals.set(p.address, p);
      await b?.close();
    },
    async startBluetoothd() {
      if (alive) return;
      const b = await VirtualBluez.serve(bus.address, opts.adapter);
      for (const p of peripherals.values()) b.addPeripheral(p);
      alive = b;
    },
    add: (...ps) =>
      ps.forEach((p) => {
        running().addPeripheral(p);
        peripherals.set(p.address, p);
      }),
    remove: async (address) => {
      peripherals.delete(address.toUpperCase());
      await running().removePeripheral(address);
    },
    get,
    stop() {
      stopped ??= (async () => {
        await alive?.close();
        await bus.stop();
      })();
      return stopped;
    },
  };
}
export * from './peripherals/profiles';
export { currentTimeBytes, parseCurrentTime, dateTimeBytes, dateTimeFields } from './peripherals/common';
export { RecordChannel } from './peripherals/records';
export { OmronCuff, type OmronCuffOptions } from './peripherals/omron';
