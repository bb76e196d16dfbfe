import { afterEach, describe, expect, it } from 'vitest';
import { BluezTransport } from '../../gateway/ble/bluez-transport';
import {
  AdvertisingScale,
  BloodPressureCuff,
  GlucoseMeter,
  startVirtualBluez,
  type VirtualBluezHandle,
} from '../../simulators/virtual-bluez';
import { bleTransportContract, CONTRACT_DEVICES, type ContractSetup } from '../contract/ble-transport.contract';
import { normalizeUuid } from '../../drivers/sdk/uuid';
import { waitFor } from '../support/wait';

async function discover(t: BluezTransport, address: string): Promise<void> {
  let seen = false as boolean; // set by the scan callback
  await t.startScan((adv) => (seen ||= adv.address === address));
  const deadline = Date.now() + 5000;
  while (!seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await t.stopScan();
}

/** The contract's devices on a fresh private dbus-daemon + virtual BlueZ. */
async function virtualWorld(): Promise<{
  vb: VirtualBluezHandle;
  cuff: BloodPressureCuff;
  glucose: GlucoseMeter;
  scale: AdvertisingScale;
}> {
  const { bpCuff, advScale, glucose: g } = CONTRACT_DEVICES;
  const cuff = new BloodPressureCuff({ address: bpCuff.address, name: bpCuff.name });
  for (const p of bpCuff.stored) cuff.addPacket(p);
  const glucose = new GlucoseMeter({ address: g.address, name: g.name });
  for (const r of g.records) glucose.addRecord(r);
  const scale = new AdvertisingScale({ address: advScale.address, name: advScale.name, initial: advScale.serviceData });
  const vb = await startVirtualBluez({ peripherals: [cuff, glucose, scale], adapter: { advertiseIntervalMs: 100 } });
  return { vb, cuff, glucose, scale };
}

async function contractSetup(): Promise<ContractSetup> {
  const { vb } = await virtualWorld();
  return {
    // a gateway's transport always has its pairing agent (BlueZ fails Pair without one)
    transport: new BluezTransport({
      busAddress: vb.address,
      connectTimeoutMs: 5000,
      agent: { mayPair: () => true, passkey: () => Promise.resolve(undefined), event: () => undefined },
    }),
    world: {
      refuseConnect: (address, code, times) =>
        void vb.get(address).fault({
          refuseConnect: { error: code === 'IN_PROGRESS' ? 'InProgress' : 'Failed', ...(times ? { times } : {}) },
        }),
      hangConnect: (address) => void vb.get(address).fault({ connectHang: true }),
      dropLinkAfter: (address, n) => void vb.get(address).fault({ dropLinkAfter: n }),
      writes: (address, s, c) =>
        vb
          .get(address)
          .writes.filter((w) => w.service === normalizeUuid(s) && w.characteristic === normalizeUuid(c))
          .map((w) => w.value),
      slowRecords: (address, ms) => {
        vb.get(address, GlucoseMeter).intervalMs = ms;
      },
      bonding: {
        requireBonding: (address) => {
          vb.get(address).requiresBonding = true;
        },
        refusePairing: (address) => void vb.get(address).fault({ refusePairing: { error: 'AuthenticationRejected' } }),
        bonded: (address) => vb.get(address).linkSecure && vb.get(address).paired,
      },
    },
    teardown: () => vb.stop(),
  };
}

bleTransportContract('bluez (node-ble) on the virtual BlueZ', contractSetup);

describe('bluez transport on the virtual BlueZ: misbehaving devices', () => {
  let vb: VirtualBluezHandle | undefined;
  let t: BluezTransport | undefined;
  afterEach(async () => {
    await t?.stop();
    await vb?.stop();
    t = vb = undefined;
  });

  it('runs unmodified from DBUS_SYSTEM_BUS_ADDRESS, like the gateway in the demo', async () => {
    const w = await virtualWorld();
    vb = w.vb;
    const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    process.env.DBUS_SYSTEM_BUS_ADDRESS = vb.address;
    try {
      t = new BluezTransport();
      await t.start();
    } finally {
      if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    }
    await discover(t, CONTRACT_DEVICES.bpCuff.address);
    const c = await t.connect(CONTRACT_DEVICES.bpCuff.address);
    expect(await c.read('180a', '2a29')).toEqual(new TextEncoder().encode('Vigil Virtual Devices'));
    await c.disconnect();
  });

  it('delivers garbage bytes as sent, and readings stamped by a wrong device clock', async () => {
    const w = await virtualWorld();
    vb = w.vb;
    t = new BluezTransport({ busAddress: vb.address });
    await t.start();
    w.cuff.channel.records.length = 0;
    w.cuff.clockOffsetMs = -3 * 365 * 86_400_000; // three years behind
    const wrong = w.cuff.addReading({ systolic: 121, diastolic: 79, pulse: 60 });
    expect(wrong[7]! | (wrong[8]! << 8)).toBe(new Date().getUTCFullYear() - 3);
    w.cuff.fault({ garbage: true });
    w.cuff.addReading({ systolic: 122, diastolic: 80 });
    await discover(t, CONTRACT_DEVICES.bpCuff.address);
    const c = await t.connect(CONTRACT_DEVICES.bpCuff.address);
    const got: Uint8Array[] = [];
    await c.subscribe('1810', '2a35', (v) => got.push(v));
    const deadline = Date.now() + 3000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([Uint8Array.of(0xde, 0xad, 0xbe, 0xef), Uint8Array.of(0xde, 0xad, 0xbe, 0xef)]);
    w.cuff.clearFaults();
    const live = w.cuff.addReading({ systolic: 125, diastolic: 82 });
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(got[2]).toEqual(live);
    await c.disconnect();
  });

  it('follows the adapter: powered off, unplugged', async () => {
    const w = await virtualWorld();
    vb = w.vb;
    t = new BluezTransport({ busAddress: vb.address });
    await t.start();
    vb.bluez.setPowered(false);
    await waitFor('the adapter off', () => t!.adapterState() === 'off', 5_000, 10);
    vb.bluez.setAdapterPresent(false);
    await waitFor('the adapter absent', () => t!.adapterState() === 'absent', 5_000, 10);
    await expect(t.connect(CONTRACT_DEVICES.bpCuff.address)).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
  });

  it('reports ADAPTER_UNAVAILABLE when no bus answers', async () => {
    t = new BluezTransport({ busAddress: 'unix:path=/nonexistent/vigil-no-bus', startTimeoutMs: 1000 });
    await expect(t.start()).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
    expect(t.adapterState()).not.toBe('powered');
  });
});

describe('the default scenario (the demo devices) through the bluez transport', () => {
  it('every device advertises; each GATT device delivers its stored packets byte-exact', async () => {
    const { loadScenario } = await import('../../simulators/virtual-bluez/scenario');
    const { peripherals, adapter } = await loadScenario('simulators/virtual-bluez/scenarios/default.yaml');
    const vb = await startVirtualBluez({ peripherals, adapter: { ...adapter, advertiseIntervalMs: 100 } });
    const t = new BluezTransport({ busAddress: vb.address });
    try {
      await t.start();
      const seen = new Map<string, string[]>();
      await t.startScan((adv) =>
        seen.set(adv.address, [...adv.serviceUuids, ...Object.keys(adv.serviceData).map((k) => `sd:${k}`)]),
      );
      const deadline = Date.now() + 5000;
      while (seen.size < peripherals.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await t.stopScan();
      expect(Object.fromEntries(seen)).toEqual({
        'A4:C1:38:10:00:01': ['1810'],
        'A4:C1:38:10:00:02': ['181d'],
        'A4:C1:38:10:00:03': ['1809'],
        'A4:C1:38:10:00:04': ['1822'],
        'A4:C1:38:10:00:05': ['1808'],
        'A4:C1:38:10:00:06': ['180d'],
        'A4:C1:38:10:00:07': ['181d', 'sd:181d'],
      });
      const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
      const cases: Array<[string, string, string, string[]]> = [
        [
          'A4:C1:38:10:00:01',
          '1810',
          '2a35',
          ['167c0056006100e807060f11111b33000000', '06830054006400e807061008020a4200'],
        ],
        ['A4:C1:38:10:00:02', '181d', '2a9d', ['06d43ae807060f071e0001', '06e02ee807060f072d0002']],
        ['A4:C1:38:10:00:03', '1809', '2a1c', ['02720100ffda070c120f0000']],
        ['A4:C1:38:10:00:04', '1822', '2a5e', ['0062004800']],
        ['A4:C1:38:10:00:06', '180d', '2a37', ['0048']],
      ];
      for (const [address, service, characteristic, expected] of cases) {
        const c = await t.connect(address);
        const got: string[] = [];
        await c.subscribe(service, characteristic, (v) => got.push(hexOf(v)));
        const until = Date.now() + 3000;
        while (got.length < expected.length && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        expect(got, address).toEqual(expected);
        await c.disconnect();
      }
    } finally {
      await t.stop();
      await vb.stop();
    }
  });
});
