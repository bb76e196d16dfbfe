import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../drivers/builtin';
import type { Driver } from '../../drivers/sdk/definition';
import { bloodPressureDriver } from '../../drivers/standard/blood-pressure';
import type { Reading } from '../../contract/reading';
import { BluezTransport } from '../../gateway/ble/bluez-transport';
import { DeviceManager } from '../../gateway/devices/device-manager';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { BloodPressureCuff, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { until } from '../support/wait';

/**
 * Bonding (Device1.Pair) for devices whose characteristics need an encrypted link, with the real
 * node-ble backend against the virtual BlueZ: cuffs that answer NotPermitted "Not paired" until
 * bonded. A bond is made only by pairing (window or explicit), a refused bond reads nothing, and a
 * bond the device lost is reported (DEVICE_NOT_BONDED) and re-made in the next window.
 */
const A = {
  newCuff: 'A4:C1:38:50:00:01',
  refusing: 'A4:C1:38:50:00:02',
  reset: 'A4:C1:38:50:00:03',
};

/** an Omron-like cuff family for this test: the standard BPS decoders, bonding required */
const bondedCuffDriver: Driver = {
  ...bloodPressureDriver,
  definition: {
    ...bloodPressureDriver.definition,
    id: 'test-bonded-cuff',
    vendor: 'Test',
    description: 'BPS cuff that needs a bond',
    match: { serviceUuids: ['1810'], namePattern: '^BLESmart_' },
    priority: 20,
    bonding: 'required',
  },
};

describe('bonding devices that require it (node-ble on the virtual BlueZ)', () => {
  let vb: VirtualBluezHandle;
  let dm: DeviceManager;
  let store: PairingStore;
  let dir: string;
  const committed: Reading[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const systolic = (address: string) =>
    committed.filter((r) => r.device.address === address && r.metric === 'blood_pressure_systolic').map((r) => r.value);
  const logged = (code: string, device: string) => logs.filter((l) => l.code === code && l.device === device);
  const T0 = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);

  beforeAll(async () => {
    const newCuff = new BloodPressureCuff({
      address: A.newCuff,
      name: 'BLESmart_0001',
      requiresBonding: true,
      recordIntervalMs: 5,
    });
    newCuff.addReading({ systolic: 121, diastolic: 79, time: T0 });
    const refusing = new BloodPressureCuff({
      address: A.refusing,
      name: 'BLESmart_0002',
      requiresBonding: true,
      recordIntervalMs: 5,
    });
    refusing.addReading({ systolic: 150, diastolic: 90, time: T0 });
    refusing.fault({ refusePairing: {} });
    // bonded with the box before (allow-listed by config, the adapter holds its keys)
    const reset = new BloodPressureCuff({
      address: A.reset,
      name: 'BLESmart_0003',
      requiresBonding: true,
      paired: true,
      recordIntervalMs: 5,
    });
    reset.addReading({ systolic: 130, diastolic: 85, time: T0 });
    vb = await startVirtualBluez({ peripherals: [newCuff, refusing, reset], adapter: { advertiseIntervalMs: 100 } });

    dir = mkdtempSync(join(tmpdir(), 'vigil-bond-'));
    store = new PairingStore(join(dir, 'pairing.db'));
    const registry = builtinRegistry();
    registry.register(bondedCuffDriver, 'test');
    const log = pino(
      { level: 'info' },
      { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
    );
    dm = new DeviceManager(
      new BluezTransport({ busAddress: vb.address, connectTimeoutMs: 5_000 }),
      registry,
      (readings) => void committed.push(...readings),
      {
        gatewayId: 'gw-it-bond',
        timeZone: 'UTC',
        allow: [A.reset],
        connectTimeoutMs: 5_000,
        idleDisconnectMs: 300,
        backoffInitialMs: 100,
        backoffMaxMs: 500,
        cooldownMs: 300,
        pairing: store,
        pairingMinRssi: -90,
        bondTimeoutMs: 5_000,
      },
      log,
    );
    await dm.start();
  }, 60_000);

  afterAll(async () => {
    await dm.stop();
    await vb.stop();
    store.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('outside a window a cuff that requires bonding is ignored and never bonded; a bonded one is read', async () => {
    await until('the bonded cuff read', () => (systolic(A.reset).length ? true : undefined));
    expect(systolic(A.reset)).toEqual([130]);
    // the marker: the new cuff's advertisements reached the device manager, which turned them away
    const heard = vb.bluez.advertisementsReported(A.newCuff);
    await until('the new cuff heard and ignored', () =>
      vb.bluez.advertisementsReported(A.newCuff) >= heard + 5 && dm.counters.ignoredUnpaired > 0 ? true : undefined,
    );
    expect(vb.get(A.newCuff).paired).toBe(false);
    expect(systolic(A.newCuff)).toEqual([]);
    expect(dm.counters.bonded).toBe(0);
  });

  it('a device that lost its bond gives DEVICE_NOT_BONDED once, reads nothing, and is not re-bonded outside a window', async () => {
    const reset = vb.get(A.reset, BloodPressureCuff);
    reset.forgetBond();
    // the new measurement only once a session has met the lost bond: a session still running on
    // the old (encrypted) link would otherwise read it, as a real link would
    await until('the first DEVICE_NOT_BONDED', () => (dm.counters.notBonded >= 1 ? true : undefined));
    reset.addReading({ systolic: 131, diastolic: 86, time: new Date(T0.getTime() + 60_000) });
    const seen = dm.counters.notBonded;
    await until('a session refused after the new measurement', () =>
      dm.counters.notBonded >= seen + 1 ? true : undefined,
    );
    expect(logged('DEVICE_NOT_BONDED', A.reset)).toHaveLength(1);
    expect(logged('DEVICE_NOT_BONDED', A.reset)[0]?.hint).toMatch(/pairing window/);
    expect(systolic(A.reset)).toEqual([130]);
    expect(dm.counters.bonded).toBe(0);
  });

  it('in a pairing window: the new cuff is bonded then read, the refusing one gives AUTH_FAILED and nothing, the reset one is re-bonded', async () => {
    store.openWindow(Date.now() + 15_000, 'cli');
    dm.refreshPairing();
    await until('the new cuff read', () => (systolic(A.newCuff).length ? true : undefined), 15_000);
    expect(systolic(A.newCuff)).toEqual([121]);
    expect(vb.get(A.newCuff).paired).toBe(true);
    expect(logged('DEVICE_BONDED', A.newCuff)).toHaveLength(1);

    await until('the refused bond', () => (logged('DEVICE_BOND_FAILED', A.refusing).length ? true : undefined));
    expect(logged('DEVICE_BOND_FAILED', A.refusing)[0]).toMatchObject({ reason: 'AUTH_FAILED' });
    expect(vb.get(A.refusing).paired).toBe(false);
    expect(systolic(A.refusing)).toEqual([]);

    await until('the reset cuff read again', () => (systolic(A.reset).length >= 2 ? true : undefined), 15_000);
    expect(systolic(A.reset)).toEqual([130, 131]);
    expect(logged('DEVICE_BONDED', A.reset)[0]).toMatchObject({ rebond: true });
    expect(vb.get(A.reset).paired).toBe(true);
    expect(vb.get(A.reset).bondLost).toBe(false);
    expect(dm.counters.bonded).toBe(2);
  }, 40_000);
});
