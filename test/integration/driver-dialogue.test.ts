import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../contract';
import { builtinRegistry, type Driver } from '../../drivers';
import { defineSession, StepError, type SessionIo } from '../../drivers/sdk/session';
import type { DeviceCursorUpdate } from '../../gateway/buffer/reading-buffer';
import { DeviceManager } from '../../gateway/devices/device-manager';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { VirtualPeripheral, type PeripheralLink } from '../../simulators/virtual-bluez';
import { startDeviceRig, type DeviceRig } from '../support/device-rig';
import { until } from '../support/wait';

/**
 * A driver that holds a dialogue instead of declaring characteristics to subscribe to: a
 * vendor command channel (write a command, wait for its reply on a notify characteristic),
 * key programming only in pairing mode, an unlock with that key (resent once when the device
 * does not answer), a per-user memory readout from the committed per-user cursor, and an
 * acknowledgement only after the records are durably committed. The protocol is a test fixture
 * (one byte command, one byte reply code), not a real vendor's: the runner is what is tested.
 */
const SVC = '0000fe4a-0000-1000-8000-00805f9b34fb';
const TX = '0000fe4b-0000-1000-8000-00805f9b34fb';
const RX = '0000fe4c-0000-1000-8000-00805f9b34fb';
const ADDRESS = 'A4:C1:38:0E:00:01';

/** the device: 0x02 key -> 0x82 (program, pairing mode only), 0x01 key -> 0x81/0xff, 0x10 user -> records, 0x20 user n -> ack */
class DialogueDevice extends VirtualPeripheral {
  key: number | undefined;
  pairingMode = true;
  /** per user: systolic values in memory order */
  memory: Record<number, number[]> = { 1: [120, 125], 2: [140] };
  /** per user: records acknowledged (the device's own "already sent" mark) */
  acked: Record<number, number> = { 1: 0, 2: 0 };
  /** unlock commands to ignore (the device does not answer the first one) */
  ignoreUnlocks = 1;
  constructor() {
    super({ address: ADDRESS, name: 'VIGIL-DLG', advertisement: { serviceUuids: [SVC] } });
    this.services = [
      {
        uuid: SVC,
        characteristics: [
          { uuid: TX, flags: ['write'], onWrite: (v, link) => this.command(v, link) },
          { uuid: RX, flags: ['notify'] },
        ],
      },
    ];
  }
  private command(v: Uint8Array, link: PeripheralLink): void {
    const reply = (...b: number[]) => {
      link.later(5, () => link.notify(SVC, RX, Uint8Array.from(b)));
    };
    const [op = 0, arg = 0] = v;
    if (op === 0x02) {
      if (this.pairingMode) this.key = arg;
      reply(this.pairingMode ? 0x82 : 0xff);
    } else if (op === 0x01) {
      if (this.ignoreUnlocks-- <= 0) reply(arg === this.key ? 0x81 : 0xff);
    } else if (op === 0x10) {
      const from = v[2] ?? 0;
      (this.memory[arg] ?? []).slice(from).forEach((sys, i) => {
        reply(0x90, arg, from + i, sys);
      });
      reply(0x9f, arg);
    } else if (op === 0x20) {
      this.acked[arg] = v[2] ?? 0;
      reply(0xa0);
    }
  }
}

const write = (io: SessionIo, ...bytes: number[]) => io.write(SVC, TX, Uint8Array.from(bytes));
const replyIs = (code: number) => (v: Uint8Array) => v[0] === code || v[0] === 0xff;

const dialogueDriver: Driver = {
  definition: {
    id: 'test-dialogue',
    vendor: 'Vigil test',
    models: ['dialogue fixture'],
    description: 'a vendor command channel driven by session steps',
    match: { serviceUuids: [SVC] },
    linkMode: 'connect',
    capabilities: { storedRecords: true, multiUser: true },
    metrics: ['blood_pressure_systolic'],
    characteristics: [
      { service: SVC, characteristic: TX, access: 'write' },
      { service: SVC, characteristic: RX, access: 'notify' },
    ],
  },
  session: defineSession(
    {
      name: 'subscribe',
      kind: 'subscribe',
      run: (io) => io.subscribe(SVC, RX),
    },
    {
      name: 'program-key',
      kind: 'handshake',
      when: (io) => io.pairing && io.state.get('key') === undefined,
      async run(io) {
        const reply = io.expect(RX, replyIs(0x82));
        await write(io, 0x02, 0x5a);
        if ((await reply)[0] !== 0x82) throw new StepError('NEEDS_PAIRING_MODE', 'the device refused the key');
        io.state.set('key', '5a');
      },
    },
    {
      name: 'unlock',
      kind: 'unlock',
      timeoutMs: 300,
      retries: 2,
      async run(io) {
        const key = io.state.get('key');
        if (key === undefined) throw new StepError('NOT_PROGRAMMED', 'no key: pair the device in a pairing window');
        const reply = io.expect(RX, replyIs(0x81));
        await write(io, 0x01, parseInt(key, 16));
        if ((await reply)[0] !== 0x81) throw new StepError('UNLOCK_REFUSED', 'wrong key');
      },
    },
    {
      name: 'read-memory',
      kind: 'records',
      async run(io) {
        for (const user of [1, 2]) {
          const from = (io.cursor(`user${user}`) ?? -1) + 1;
          const stream = io.collect(RX, (v) => v[0] === 0x9f);
          await write(io, 0x10, user, from);
          const records = (await stream).filter((v) => v[0] === 0x90 && v[1] === user);
          for (const r of records)
            io.commit(
              [{ metric: 'blood_pressure_systolic', value: r[3]!, unit: 'mm[Hg]', userIndex: user, sequence: r[2] }],
              r,
              { key: `user${user}`, value: r[2]! },
            );
        }
      },
    },
    {
      // only after the commit: the device may forget what it marked as sent
      name: 'acknowledge',
      kind: 'ack',
      async run(io) {
        for (const user of [1, 2]) {
          const last = io.cursor(`user${user}`);
          if (last === undefined) continue;
          const reply = io.expect(RX, replyIs(0xa0));
          await write(io, 0x20, user, last + 1);
          await reply;
        }
        io.finish();
      },
    },
  ),
};

describe('driver dialogues: a driver-declared session run by the gateway (node-ble on the virtual BlueZ)', () => {
  let rig: DeviceRig;
  let dm: DeviceManager;
  let store: PairingStore;
  const device = new DialogueDevice();
  const committed: Reading[] = [];
  const cursors = new Map<string, number>();
  const commit = (readings: Reading[], cursor?: DeviceCursorUpdate) => {
    committed.push(...readings);
    if (cursor && !cursor.renumbered) cursors.set(cursor.deviceKey, cursor.value);
  };

  beforeAll(async () => {
    const registry = builtinRegistry();
    registry.register(dialogueDriver, 'test');
    rig = await startDeviceRig({
      gatewayId: 'gw-it-dialogue',
      peripherals: [device],
      commit,
      registry,
      options: { idleDisconnectMs: 2_000, cursor: (key) => cursors.get(key), bondTimeoutMs: undefined },
    });
    ({ dm, store } = rig);
  }, 60_000);

  afterAll(() => rig.stop());

  it('programs the key in pairing mode, unlocks (resending once), reads each user from its cursor and acknowledges', async () => {
    await until('three records', () => Promise.resolve(committed.length >= 3 ? true : undefined), 15_000);
    expect(committed.map((r) => [r.userIndex, r.value])).toEqual([
      [1, 120],
      [1, 125],
      [2, 140],
    ]);
    expect(store.get(ADDRESS, 'test-dialogue', 'key')).toBe('5a');
    expect(device.key).toBe(0x5a);
    expect(cursors.get(`${ADDRESS}/user1`)).toBe(1);
    expect(cursors.get(`${ADDRESS}/user2`)).toBe(0);
    await until('acknowledged', () => Promise.resolve(device.acked[2] === 1 ? true : undefined));
    expect(device.acked).toEqual({ 1: 2, 2: 1 });
    // two unlock commands: the first went unanswered and was resent by the runner
    expect(device.writes.filter((w) => w.value[0] === 0x01)).toHaveLength(2);
  });

  it('later sessions: no key programming outside pairing, only records after the per-user cursor', async () => {
    store.closeWindow();
    dm.refreshPairing();
    device.pairingMode = false;
    device.memory[2]!.push(150);
    const programmed = device.writes.filter((w) => w.value[0] === 0x02).length;
    await until('the new record', () => Promise.resolve(committed.some((r) => r.value === 150) ? true : undefined));
    expect(committed.filter((r) => r.userIndex === 2).map((r) => r.value)).toEqual([140, 150]);
    expect(committed.filter((r) => r.userIndex === 1).map((r) => r.value)).toEqual([120, 125]);
    expect(device.writes.filter((w) => w.value[0] === 0x02)).toHaveLength(programmed);
    // the read asked user 2 from record 1 on: nothing already sent came again
    const reads = device.writes.filter((w) => w.value[0] === 0x10).map((w) => [...w.value]);
    expect(reads).toContainEqual([0x10, 2, 1]);
  });
});
