import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../contract';
import { builtinRegistry } from '../../drivers';
import { BluezTransport } from '../../gateway/ble/bluez-transport';
import { DeviceManager } from '../../gateway/devices/device-manager';
import {
  ActivityTracker,
  BloodPressureCuff,
  Thermometer,
  startVirtualBluez,
  type PeripheralLink,
  type VirtualBluezHandle,
} from '../../simulators/virtual-bluez';
import { until } from '../support/wait';

/**
 * Connection scheduling on the virtual BlueZ with the real node-ble backend:
 * - a thermometer that advertises for 3 s only, while another device holds a long session, is
 *   read within its window (sessions run side by side; a stale advertisement is not chased);
 * - a cuff that drops the link as soon as its measurement is out still gets its clock set: the
 *   Current Time is written before subscribing;
 * - discovery is paused while connecting (single radio) and resumed after.
 */
const A = {
  tracker: 'A4:C1:38:0D:00:01',
  brief: 'A4:C1:38:0D:00:02',
  dropper: 'A4:C1:38:0D:00:03',
};

describe('connection scheduling (node-ble on the virtual BlueZ)', () => {
  let vb: VirtualBluezHandle;
  let dm: DeviceManager;
  let streaming: NodeJS.Timeout | undefined;
  const committed: Reading[] = [];
  const of = (address: string, metric: string) =>
    committed.filter((r) => r.device.address === address && r.metric === metric).map((r) => r.value);
  const discoveryToggles: boolean[] = [];

  beforeAll(async () => {
    // a tracker that streams heart rate for as long as it is connected: its session never idles out
    const tracker = new ActivityTracker({ address: A.tracker, name: 'Tracker' });
    tracker.on('connected', () => {
      streaming = setInterval(() => tracker.addHeartRate(60 + Math.round(Math.random() * 5)), 100);
    });
    tracker.on('disconnected', () => clearInterval(streaming));
    const brief = new Thermometer({ address: A.brief, name: 'Thermometer', recordIntervalMs: 5 });
    brief.addReading({ celsius: 37.9, time: new Date(Date.UTC(2026, 10, 30, 7, 0)) });
    brief.setInRange(false);
    // a cuff with its clock 2 h behind that hangs up right after its measurement
    const dropper = new BloodPressureCuff({
      address: A.dropper,
      name: 'BP Cuff',
      clockOffsetMs: -2 * 3_600_000,
      recordIntervalMs: 5,
    });
    dropper.addReading({ systolic: 128, diastolic: 82, time: new Date(Date.UTC(2026, 10, 30, 6, 0)) });
    dropper.sendStored = (link: PeripheralLink) => dropper.channel.flush(link, () => link.drop());
    dropper.setInRange(false);

    vb = await startVirtualBluez({ peripherals: [tracker, brief, dropper], adapter: { advertiseIntervalMs: 100 } });
    const transport = new BluezTransport({ busAddress: vb.address, connectTimeoutMs: 5_000 });
    dm = new DeviceManager(
      transport,
      builtinRegistry(),
      (readings) => void committed.push(...readings),
      {
        gatewayId: 'gw-it-sched',
        timeZone: 'UTC',
        allow: [A.tracker, A.brief, A.dropper],
        connectTimeoutMs: 5_000,
        idleDisconnectMs: 1_000,
        backoffInitialMs: 100,
        backoffMaxMs: 500,
        cooldownMs: 60_000,
        advertFreshMs: 2_000,
      },
      pino({ level: 'silent' }),
    );
    await dm.start();
    const stopDiscovery = vb.bluez.stopDiscovery.bind(vb.bluez);
    vb.bluez.stopDiscovery = () => {
      discoveryToggles.push(false);
      stopDiscovery();
    };
  }, 60_000);

  afterAll(async () => {
    clearInterval(streaming);
    await dm.stop();
    await vb.stop();
  });

  it('reads a device that advertises for 3 s while another device holds a long session', async () => {
    await until('the tracker streaming', () =>
      Promise.resolve(of(A.tracker, 'heart_rate').length >= 3 ? true : undefined),
    );
    const brief = vb.get(A.brief, Thermometer);
    brief.setInRange(true);
    const started = Date.now();
    await until(
      'the brief thermometer read',
      () => Promise.resolve(of(A.brief, 'body_temperature').length ? true : undefined),
      3_000,
    );
    brief.setInRange(false);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(of(A.brief, 'body_temperature')).toEqual([37.9]);
    // the long session is still running beside it
    expect(vb.get(A.tracker).connected).toBe(true);
    // discovery was paused for the connect and resumed after it
    expect(discoveryToggles).toContain(false);
    expect(vb.bluez.adapter.discovering).toBe(true);
  });

  it('a device that drops the link right after its measurement still gets its clock set', async () => {
    const dropper = vb.get(A.dropper, BloodPressureCuff);
    expect(Math.abs(dropper.clockOffsetMs)).toBeGreaterThan(3_600_000);
    dropper.setInRange(true);
    await until('the cuff read', () =>
      Promise.resolve(of(A.dropper, 'blood_pressure_systolic').length ? true : undefined),
    );
    await until('the cuff gone', () => Promise.resolve(!dropper.connected ? true : undefined));
    dropper.setInRange(false);
    expect(of(A.dropper, 'blood_pressure_systolic')).toEqual([128]);
    // the Current Time was written before the subscription that made the cuff send and hang up
    expect(dropper.writes.some((w) => w.characteristic === '2a2b')).toBe(true);
    expect(Math.abs(dropper.clockOffsetMs)).toBeLessThan(5_000);
    // hanging up after sending is how the session ends, not a failure to back off from
    expect(dm.devices.get(A.dropper)?.failures).toBe(0);
  });
});
