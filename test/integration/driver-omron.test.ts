import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../contract';
import { FRAME } from '../../drivers/vendors/omron-protocol';
import type { DeviceCursorUpdate } from '../../gateway/buffer/reading-buffer';
import { DeviceManager } from '../../gateway/devices/device-manager';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { OmronCuff } from '../../simulators/virtual-bluez';
import { startDeviceRig, type DeviceRig } from '../support/device-rig';
import { until } from '../support/wait';

/**
 * The built-in Omron driver (omron-hem) against a virtual HEM-7322T built from the documented
 * protocol, through the real node-ble backend on the virtual BlueZ: bonding and key programming
 * in a pairing window, unlock, the per-user EEPROM readout, the unread counters acknowledged
 * after the commit, and a later session that reads only the new records (and resends a command
 * whose reply was lost).
 */
const ADDRESS = '28:FF:B2:00:00:01';
/** a HEM-7361T (little-endian 16-octet records) that also serves the Blood Pressure Service */
const WITH_BLS = '28:FF:B2:00:00:02';
/** a cuff brought to the window without its bluetooth key held ("-P-" not shown) */
const NOT_IN_PAIRING = '28:FF:B2:00:00:03';

describe('Omron HEM cuff: pairing key, unlock, per-user memory (node-ble on the virtual BlueZ)', () => {
  let rig: DeviceRig;
  let dm: DeviceManager;
  let store: PairingStore;
  const cuff = new OmronCuff({ address: ADDRESS, model: 'HEM-7322T', pairingMode: true });
  const lateCuff = new OmronCuff({ address: NOT_IN_PAIRING, model: 'HEM-7322T', pairingMode: false });
  const blsCuff = new OmronCuff({
    address: WITH_BLS,
    model: 'HEM-7361T',
    modelCode: '00000139',
    pairingMode: true,
    bls: true,
  });
  const committed: Reading[] = [];
  const cursors = new Map<string, number>();
  const logs: Array<Record<string, unknown>> = [];
  const commit = (readings: Reading[], cursor?: DeviceCursorUpdate) => {
    committed.push(...readings);
    if (cursor && !cursor.renumbered) cursors.set(cursor.deviceKey, cursor.value);
  };
  const systolic = (user: number, address = ADDRESS) =>
    committed
      .filter((r) => r.device.address === address && r.metric === 'blood_pressure_systolic' && r.userIndex === user)
      .map((r) => r.value);

  beforeAll(async () => {
    cuff.addRecord(1, { systolic: 128, diastolic: 84, pulse: 66, deviceTime: '2026-11-28T07:30:12' });
    cuff.addRecord(2, {
      systolic: 141,
      diastolic: 92,
      pulse: 71,
      deviceTime: '2026-11-28T08:02:40',
      irregularHeartbeat: true,
    });
    cuff.addRecord(1, { systolic: 132, diastolic: 86, pulse: 64, deviceTime: '2026-11-29T07:41:05', movement: true });
    lateCuff.addRecord(1, { systolic: 117, diastolic: 75, pulse: 60, deviceTime: '2026-11-26T06:50:00' });
    blsCuff.addRecord(1, { systolic: 122, diastolic: 79, pulse: 58, deviceTime: '2026-11-27T19:10:00' });
    rig = await startDeviceRig({
      gatewayId: 'gw-it-omron',
      peripherals: [cuff, blsCuff, lateCuff],
      commit,
      options: { cursor: (key) => cursors.get(key) },
      log: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) }),
    });
    ({ dm, store } = rig);
  }, 60_000);

  afterAll(() => rig.stop());

  it('bonds, programs a key in pairing mode, unlocks, reads users 1 and 2 and acknowledges after the commit', async () => {
    await until(
      'both users read and acknowledged',
      () => (systolic(1).length === 2 && systolic(2).length === 1 && cuff.counters(0).unread === 0 ? true : undefined),
      30_000,
    );
    expect(cuff.paired).toBe(true);
    // a 16-octet key of its own, kept with the pairing
    const key = store.get(ADDRESS, 'omron-hem', 'key');
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(cuff.key ?? []).toString('hex')).toBe(key);
    expect(systolic(1)).toEqual([128, 132]);
    expect(systolic(2)).toEqual([141]);
    const u2 = committed.filter((r) => r.userIndex === 2);
    expect(u2.map((r) => [r.metric, r.value])).toEqual([
      ['blood_pressure_systolic', 141],
      ['blood_pressure_diastolic', 92],
      ['heart_rate', 71],
    ]);
    expect(u2[0]?.deviceTime).toBe('2026-11-28T08:02:40');
    expect(u2[0]?.flags).toContain('irregular_pulse');
    expect(committed.find((r) => r.value === 132)?.flags).toContain('body_movement');
    expect(cursors.get(`${ADDRESS}/user1`)).toBe(Date.parse('2026-11-29T07:41:05Z') / 1000);
    expect(cuff.counters(1)).toEqual({ nextSlot: 1, unread: 0 });
  });

  it('a cuff not showing "-P-" gets no key and gives nothing (NEEDS_PAIRING_MODE) until its key is held', async () => {
    const refused = () =>
      logs.filter((l) => l.device === NOT_IN_PAIRING && l.code === 'NEEDS_PAIRING_MODE').length > 0 ? true : undefined;
    await until('NEEDS_PAIRING_MODE logged', refused, 30_000);
    expect(store.get(NOT_IN_PAIRING, 'omron-hem', 'key')).toBeUndefined();
    expect(lateCuff.key).toBeUndefined();
    expect(systolic(1, NOT_IN_PAIRING)).toEqual([]);
    lateCuff.setPairingMode(true);
    await until('programmed and read', () => (systolic(1, NOT_IN_PAIRING).includes(117) ? true : undefined), 30_000);
    expect(store.get(NOT_IN_PAIRING, 'omron-hem', 'key')).toBe(Buffer.from(lateCuff.key ?? []).toString('hex'));
  });

  it('a later session (no window) reads only the new records, resending a command whose reply was lost', async () => {
    store.closeWindow();
    dm.refreshPairing();
    const before = committed.length;
    const mark = cuff.commands.length;
    const programmed = Buffer.from(cuff.key ?? []).toString('hex');
    cuff.dropReplies = 1;
    cuff.addRecord(2, { systolic: 150, diastolic: 95, pulse: 80, deviceTime: '2026-11-30T09:15:00' });
    await until(
      'the new record',
      () => (systolic(2).includes(150) && cuff.counters(1).unread === 0 ? true : undefined),
      30_000,
    );
    expect(systolic(2)).toEqual([141, 150]);
    expect(systolic(1)).toEqual([128, 132]);
    // one record: three values (battery levels are read each session too)
    expect(
      committed.slice(before).filter((r) => r.device.address === ADDRESS && r.metric !== 'battery_level'),
    ).toHaveLength(3);
    // no key programming outside the window: the key is the one programmed at pairing
    expect(Buffer.from(cuff.key ?? []).toString('hex')).toBe(programmed);
    // only the new slot of user 2's ring was read (slot 1 of the ring at 0x0824), not the whole memory
    const reads = cuff.commands.slice(mark).filter((c) => c.type === FRAME.read);
    const ringReads = reads.filter((c) => c.address >= 0x02ac);
    expect(ringReads.map((c) => [c.address, c.length])).toContainEqual([0x0824 + 14, 14]);
    expect(ringReads.every((c) => c.length === 14)).toBe(true);
    expect(logs.some((l) => l.code === 'OMRON_RESEND')).toBe(true);
  });

  it('a record stamped before the last one (the cuff clock reset with its batteries) is still read', async () => {
    cuff.addRecord(1, { systolic: 119, diastolic: 77, pulse: 62, deviceTime: '2000-01-01T00:05:00' });
    await until('the record of the reset clock', () => (systolic(1).includes(119) ? true : undefined), 30_000);
    expect(systolic(1)).toEqual([128, 132, 119]);
    await until('acknowledged', () => (cuff.counters(0).unread === 0 ? true : undefined));
  });

  it('a model that also serves BLS: the EEPROM record and its BLS indication are one reading (same id)', async () => {
    await until(
      'the BLS cuff read both ways',
      () =>
        committed.filter((r) => r.device.address === WITH_BLS && r.metric === 'blood_pressure_systolic').length >= 2 &&
        blsCuff.counters(0).unread === 0
          ? true
          : undefined,
      30_000,
    );
    expect(blsCuff.key).toBeDefined();
    const copies = committed.filter((r) => r.device.address === WITH_BLS && r.metric === 'blood_pressure_systolic');
    expect(copies.map((r) => [r.value, r.userIndex, r.deviceTime])).toEqual([
      [122, 1, '2026-11-27T19:10:00'],
      [122, 1, '2026-11-27T19:10:00'],
    ]);
    // the buffer keeps one: both paths give the same deterministic reading id
    expect(new Set(copies.map((r) => r.id)).size).toBe(1);
  });
});
