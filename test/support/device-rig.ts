import pino, { type Logger } from 'pino';
import { builtinRegistry } from '../../drivers';
import { BluezTransport } from '../../gateway/ble/bluez-transport';
import { DeviceManager, type DeviceManagerOptions } from '../../gateway/devices/device-manager';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { startVirtualBluez, type VirtualBluezHandle, type VirtualPeripheral } from '../../simulators/virtual-bluez';

export interface DeviceRig {
  vb: VirtualBluezHandle;
  dm: DeviceManager;
  store: PairingStore;
  stop(): Promise<void>;
}

/**
 * The gateway's device side for driver tests: the real node-ble backend and DeviceManager on a
 * virtual BlueZ, an in-memory pairing store that also keeps the drivers' saved values, and a
 * pairing window open for a minute (devices that bond on first contact are accepted). Short
 * back-offs keep the tests quick; `options` overrides any setting.
 */
export async function startDeviceRig(o: {
  gatewayId: string;
  peripherals: VirtualPeripheral[];
  commit: ConstructorParameters<typeof DeviceManager>[2];
  registry?: ConstructorParameters<typeof DeviceManager>[1];
  options?: Partial<DeviceManagerOptions>;
  log?: Logger;
}): Promise<DeviceRig> {
  const vb = await startVirtualBluez({ peripherals: o.peripherals, adapter: { advertiseIntervalMs: 100 } });
  const store = new PairingStore(':memory:');
  const dm = new DeviceManager(
    new BluezTransport({ busAddress: vb.address, connectTimeoutMs: 5_000 }),
    o.registry ?? builtinRegistry(),
    o.commit,
    {
      gatewayId: o.gatewayId,
      timeZone: 'UTC',
      allow: [],
      connectTimeoutMs: 5_000,
      idleDisconnectMs: 1_000,
      backoffInitialMs: 100,
      backoffMaxMs: 300,
      cooldownMs: 300,
      pairing: store,
      pairingMinRssi: -90,
      bondTimeoutMs: 5_000,
      state: store,
      ...o.options,
    },
    o.log ?? pino({ level: 'silent' }),
  );
  store.openWindow(Date.now() + 60_000, 'cli');
  dm.refreshPairing();
  await dm.start();
  return {
    vb,
    dm,
    store,
    stop: async () => {
      await dm.stop();
      await vb.stop();
      store.close();
    },
  };
}
