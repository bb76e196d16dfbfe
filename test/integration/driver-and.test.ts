import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../contract';
import { DeviceManager } from '../../gateway/devices/device-manager';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { AndBloodPressureMonitor, AndWeightScale } from '../../simulators/virtual-bluez';
import { startDeviceRig, type DeviceRig } from '../support/device-rig';
import { until } from '../support/wait';

/**
 * The built-in A&D drivers (and-ua-651ble, and-uc-352ble) against virtual A&D devices through
 * the real node-ble backend on the virtual BlueZ: bonded in a pairing window, the device clock
 * read (its offset corrects the stored records) and set through Date Time 0x2A08 before the
 * indications are enabled (the devices hold their records until then), every stored record read,
 * and a later session reads only what was measured since.
 */
const CUFF = '00:09:1F:80:00:01';
const SCALE = '00:09:1F:80:00:02';
const HOUR = 3_600_000;

describe('A&D UA-651BLE and UC-352BLE: time set, stored memory (node-ble on the virtual BlueZ)', () => {
  let rig: DeviceRig;
  let dm: DeviceManager;
  let store: PairingStore;
  // the cuff's clock runs two hours ahead (never set since its batteries were changed)
  const cuff = new AndBloodPressureMonitor({
    address: CUFF,
    name: 'A&D_UA-651_0001',
    clockOffsetMs: 2 * HOUR,
    recordIntervalMs: 5,
  });
  const scale = new AndWeightScale({ address: SCALE, name: 'A&D_UC-352_0002', recordIntervalMs: 5 });
  const committed: Reading[] = [];
  const values = (address: string, metric: string) =>
    committed.filter((r) => r.device.address === address && r.metric === metric).map((r) => r.value);

  beforeAll(async () => {
    const now = Date.now();
    cuff.addReading({ systolic: 124, diastolic: 82, pulse: 70, time: cuff.deviceTime(now - 2 * HOUR) });
    cuff.addReading({ systolic: 131, diastolic: 85, pulse: 68, time: cuff.deviceTime(now - HOUR) });
    scale.addReading({ weight: 72.4, time: scale.deviceTime(now - HOUR) });
    rig = await startDeviceRig({
      gatewayId: 'gw-it-and',
      peripherals: [cuff, scale],
      commit: (readings) => void committed.push(...readings),
      options: { idleDisconnectMs: 800 },
    });
    ({ dm, store } = rig);
  }, 60_000);

  afterAll(() => rig.stop());

  it('bonds both, sets their clocks before subscribing, reads the stored memory with the clock offset corrected', async () => {
    await until(
      'stored records of both devices',
      () =>
        values(CUFF, 'blood_pressure_systolic').length === 2 && values(SCALE, 'body_weight').length === 1
          ? true
          : undefined,
      30_000,
    );
    expect(cuff.paired && scale.paired).toBe(true);
    expect(values(CUFF, 'blood_pressure_systolic')).toEqual([124, 131]);
    expect(values(SCALE, 'body_weight')).toEqual([72.4]);
    // the clock was read (two hours ahead) and set to the gateway's time
    expect(cuff.timeWrites.length).toBeGreaterThan(0);
    expect(Math.abs(cuff.deviceTime().getTime() - Date.now())).toBeLessThan(5_000);
    const first = committed.find((r) => r.device.address === CUFF && r.value === 124);
    // taken two hours ago by the gateway's clock, whatever the cuff's clock said
    expect(Math.abs(Date.parse(first?.measuredAt ?? '') - (Date.now() - 2 * HOUR))).toBeLessThan(60_000);
    // every session set the time before it enabled the indications
    expect(cuff.dialogue.slice(0, 2)).toEqual(['time', 'subscribe']);
    expect(scale.dialogue.slice(0, 2)).toEqual(['time', 'subscribe']);
  });

  it('a later session (window closed) reads only the new measurement', async () => {
    store.closeWindow();
    dm.refreshPairing();
    cuff.addReading({ systolic: 138, diastolic: 88, pulse: 75 });
    await until(
      'the new measurement',
      () => (values(CUFF, 'blood_pressure_systolic').includes(138) ? true : undefined),
      30_000,
    );
    expect(values(CUFF, 'blood_pressure_systolic')).toEqual([124, 131, 138]);
    expect(values(SCALE, 'body_weight')).toEqual([72.4]);
  });
});
