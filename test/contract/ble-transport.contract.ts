import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Advertisement } from '../../drivers/sdk/definition';
import { BleError, type BleConnection, type BleErrorCode, type BleTransport } from '../../gateway/ble/transport';

/**
 * The contract every BleTransport backend passes. A backend's test supplies a factory that builds
 * the transport plus a "world" with the CONTRACT_DEVICES below (a virtual BlueZ, an in-process
 * simulator, ...) and the few fault controls the contract needs.
 */

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

/** The devices each world provides; packets are byte-exact GSS values. */
export const CONTRACT_DEVICES = {
  bpCuff: {
    address: 'C0:FF:EE:00:00:01',
    name: 'Contract BP',
    /** stored records, sent by indication on 0x1810/0x2A35 once subscribed (BLS 1.1) */
    stored: [
      hex('167c0056006100e807060f11111b33000000'),
      hex('16820058006600e807060f12000040000000'),
      hex('16780050005e00e807061007050042000400'),
    ],
    /** 0x2A49 Blood Pressure Feature */
    feature: hex('3f00'),
  },
  advScale: {
    address: 'C0:FF:EE:00:00:02',
    name: 'MI SCALE2',
    /** Mi Smart Scale service data 0x181D: 61.75 kg (field notes) */
    serviceData: hex('223e30e607020e10293a'),
  },
  glucose: {
    address: 'C0:FF:EE:00:00:03',
    name: 'Contract Glucose',
    /** Glucose Measurement 0x2A18 records, sequence numbers 1..5 (GLS 3.1: flags 0x02, seq, base time, SFLOAT kg/L, type/location) */
    records: [1, 2, 3, 4, 5].map((seq) =>
      Uint8Array.from([0x02, seq, 0x00, 0xe8, 0x07, 0x06, 0x0f, 0x08, 0x00, seq, 0x5a, 0xb0, 0x11]),
    ),
  },
} as const;

export interface ContractWorld {
  /** the next `times` Connect attempts to `address` fail with this code */
  refuseConnect(address: string, code: Extract<BleErrorCode, 'IN_PROGRESS' | 'FAILED'>, times?: number): void;
  /** the next Connect to `address` never completes */
  hangConnect(address: string): void;
  /** the link to `address` drops after `n` more notifications/indications */
  dropLinkAfter(address: string, n: number): void;
  /** values the peripheral received on this characteristic, in order */
  writes(address: string, service: string, characteristic: string): Uint8Array[];
  /** the RACP peripheral sends records slowly (for abort) */
  slowRecords(address: string, intervalMs: number): void;
  /** for backends that bond (transport.pair): the device side of a bond */
  bonding?: {
    /** from now on the device's characteristics need an encrypted, bonded link */
    requireBonding(address: string): void;
    /** the device refuses pairing (SMP Pairing Failed) */
    refusePairing(address: string): void;
    /** whether the device side holds a bond with the adapter */
    bonded(address: string): boolean;
  };
}

export interface ContractSetup {
  transport: BleTransport;
  world: ContractWorld;
  teardown(): Promise<void>;
}

async function expectCode(p: Promise<unknown>, ...codes: BleErrorCode[]): Promise<BleError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected a BleError ${codes.join('|')}`).toBeInstanceOf(BleError);
  expect(codes).toContain((e as BleError).code);
  return e as BleError;
}

function collector() {
  const values: Uint8Array[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    values,
    push: (v: Uint8Array) => {
      values.push(v);
      for (const w of waiters.splice(0))
        if (values.length >= w.n) w.resolve();
        else waiters.push(w);
    },
    until(n: number, ms = 5000): Promise<void> {
      if (values.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`got ${values.length}/${n} values in ${ms} ms`)), ms);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function bleTransportContract(name: string, factory: () => Promise<ContractSetup>): void {
  describe(`BleTransport contract: ${name}`, () => {
    let setup: ContractSetup;
    let t: BleTransport;
    const open: BleConnection[] = [];
    const { bpCuff, advScale, glucose } = CONTRACT_DEVICES;

    beforeEach(async () => {
      setup = await factory();
      t = setup.transport;
      await t.start();
    });
    afterEach(async () => {
      for (const c of open.splice(0)) await c.disconnect().catch(() => undefined);
      await t.stop();
      await setup.teardown();
    });

    /** BlueZ knows a device once it has been heard (or bonded): scan until it is, as the gateway does */
    const discover = async (...addresses: string[]) => {
      const seen = new Set<string>();
      await t.startScan((adv) => seen.add(adv.address));
      const deadline = Date.now() + 5000;
      while (addresses.some((a) => !seen.has(a)) && Date.now() < deadline) await sleep(10);
      await t.stopScan();
    };
    const connect = async (address: string, timeoutMs = 5000) => {
      await discover(address);
      const c = await t.connect(address, { timeoutMs });
      open.push(c);
      return c;
    };

    it('starts powered', () => {
      expect(t.adapterState()).toBe('powered');
    });

    it('discovery reports devices with their service UUIDs and service data', async () => {
      const seen = new Map<string, Advertisement>();
      await t.startScan((adv) => seen.set(adv.address, adv));
      const deadline = Date.now() + 5000;
      while (
        (!seen.has(bpCuff.address) || !seen.has(advScale.address) || !seen.has(glucose.address)) &&
        Date.now() < deadline
      )
        await sleep(20);
      await t.stopScan();
      const cuff = seen.get(bpCuff.address);
      expect(cuff?.serviceUuids).toContain('1810');
      expect(cuff?.name).toBe(bpCuff.name);
      expect(typeof cuff?.rssi).toBe('number');
      expect(seen.get(glucose.address)?.serviceUuids).toContain('1808');
      const scale = seen.get(advScale.address);
      expect(scale?.serviceData['181d']).toEqual(advScale.serviceData);
    });

    it('connects, finds characteristics and reads', async () => {
      const c = await connect(bpCuff.address);
      expect(c.address).toBe(bpCuff.address);
      expect(await c.has('1810', '2a35')).toBe(true);
      expect(await c.has('1810', '2aff')).toBe(false);
      expect(await c.has('0x1810', '00002a49-0000-1000-8000-00805f9b34fb')).toBe(true);
      expect(await c.read('1810', '2a49')).toEqual(bpCuff.feature);
      await expectCode(c.read('1810', '2a35'), 'NOT_SUPPORTED');
      await expectCode(c.read('1810', '2aff'), 'NOT_SUPPORTED');
    });

    it('writes Current Time (CTS 0x2A2B) and reads the device clock back', async () => {
      const c = await connect(bpCuff.address);
      const ct = hex('da070c120f170600c000'); // field notes: 2010-12-18 15:23:06 + 192/256 s
      await c.write('1805', '2a2b', ct);
      expect(setup.world.writes(bpCuff.address, '1805', '2a2b')).toEqual([ct]);
      const back = await c.read('1805', '2a2b');
      expect([...back.subarray(0, 6)]).toEqual([...ct.subarray(0, 6)]);
    });

    it('subscribe receives the stored indications byte-exact, in order', async () => {
      const c = await connect(bpCuff.address);
      const got = collector();
      const unsubscribe = await c.subscribe('1810', '2a35', got.push);
      await got.until(bpCuff.stored.length);
      expect(got.values).toEqual(bpCuff.stored);
      await unsubscribe();
    });

    it('a link dropped mid-transfer surfaces DISCONNECTED', async () => {
      setup.world.dropLinkAfter(bpCuff.address, 1);
      const c = await connect(bpCuff.address);
      let disconnected = 0;
      const down = new Promise<void>((resolve) =>
        c.onDisconnect(() => {
          disconnected++;
          resolve();
        }),
      );
      const got = collector();
      await c.subscribe('1810', '2a35', got.push);
      await down;
      expect(got.values).toEqual([bpCuff.stored[0]]);
      await expectCode(c.read('1810', '2a49'), 'DISCONNECTED');
      // the records not transferred come on the next connection
      const again = await connect(bpCuff.address);
      const rest = collector();
      await again.subscribe('1810', '2a35', rest.push);
      await rest.until(2);
      expect(rest.values).toEqual(bpCuff.stored.slice(1));
      // by now (a whole new connection and transfer later) a second call would have come
      expect(disconnected).toBe(1);
    });

    it('refused connects surface the mapped code, then a retry succeeds', async () => {
      await discover(bpCuff.address);
      setup.world.refuseConnect(bpCuff.address, 'IN_PROGRESS', 1);
      await expectCode(t.connect(bpCuff.address, { timeoutMs: 5000 }), 'IN_PROGRESS');
      setup.world.refuseConnect(bpCuff.address, 'FAILED', 1);
      await expectCode(t.connect(bpCuff.address, { timeoutMs: 5000 }), 'FAILED');
      const c = await connect(bpCuff.address);
      expect(await c.read('1810', '2a49')).toEqual(bpCuff.feature);
    });

    it('a connect that never completes fails with CONNECT_TIMEOUT on time', async () => {
      await discover(bpCuff.address);
      setup.world.hangConnect(bpCuff.address);
      const started = Date.now();
      await expectCode(t.connect(bpCuff.address, { timeoutMs: 300 }), 'CONNECT_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('an advertisement-only device cannot be connected; an unknown one is NOT_FOUND', async () => {
      await discover(advScale.address);
      await expectCode(t.connect(advScale.address, { timeoutMs: 1000 }), 'FAILED', 'CONNECT_TIMEOUT');
      await expectCode(t.connect('C0:FF:EE:99:99:99', { timeoutMs: 1000 }), 'NOT_FOUND');
    });

    it('our own disconnect runs onDisconnect once; later calls fail DISCONNECTED', async () => {
      const c = await connect(bpCuff.address);
      let n = 0;
      c.onDisconnect(() => n++);
      await c.disconnect();
      await c.disconnect();
      await expectCode(c.read('1810', '2a49'), 'DISCONNECTED');
      // the marker: a new link to the same device; a late second onDisconnect would have run by then
      const again = await connect(bpCuff.address);
      expect(n).toBe(1);
      await again.disconnect();
    });

    describe('bonding (backends with pair())', () => {
      it('characteristics that need a bond fail NOT_BONDED until pair(); pair() is idempotent', async (ctx) => {
        const bonding = setup.world.bonding;
        if (!t.pair || !t.isBonded || !bonding) return ctx.skip();
        bonding.requireBonding(bpCuff.address);
        const before = await connect(bpCuff.address);
        await expectCode(before.read('1810', '2a49'), 'NOT_BONDED');
        await expectCode(
          before.subscribe('1810', '2a35', () => undefined),
          'NOT_BONDED',
        );
        await expectCode(before.write('1805', '2a2b', hex('da070c120f170600c000')), 'NOT_BONDED');
        await before.disconnect();
        expect(await t.isBonded(bpCuff.address)).toBe(false);
        await t.pair(bpCuff.address, { timeoutMs: 5000 });
        expect(await t.isBonded(bpCuff.address)).toBe(true);
        expect(bonding.bonded(bpCuff.address)).toBe(true);
        await t.pair(bpCuff.address, { timeoutMs: 5000 }); // already bonded: no-op
        const c = await connect(bpCuff.address);
        expect(await c.read('1810', '2a49')).toEqual(bpCuff.feature);
        const got = collector();
        await c.subscribe('1810', '2a35', got.push);
        await got.until(bpCuff.stored.length);
        expect(got.values).toEqual(bpCuff.stored);
      });

      it('a refused pairing is AUTH_FAILED and leaves no bond; an unknown device is NOT_FOUND', async (ctx) => {
        const bonding = setup.world.bonding;
        if (!t.pair || !t.isBonded || !bonding) return ctx.skip();
        bonding.requireBonding(bpCuff.address);
        bonding.refusePairing(bpCuff.address);
        await discover(bpCuff.address);
        await expectCode(t.pair(bpCuff.address, { timeoutMs: 5000 }), 'AUTH_FAILED');
        expect(await t.isBonded(bpCuff.address)).toBe(false);
        expect(bonding.bonded(bpCuff.address)).toBe(false);
        await expectCode(t.pair('C0:FF:EE:99:99:99', { timeoutMs: 1000 }), 'NOT_FOUND');
      });
    });

    describe('glucose meter with RACP (GLS 1.0)', () => {
      const racp = async (c: BleConnection) => {
        const measurements = collector();
        const responses = collector();
        await c.subscribe('1808', '2a18', measurements.push);
        await c.subscribe('1808', '2a52', responses.push);
        return { measurements, responses };
      };

      it('reports the number of records and the records with sequence >= N', async () => {
        const c = await connect(glucose.address);
        const { measurements, responses } = await racp(c);
        await c.write('1808', '2a52', Uint8Array.of(0x04, 0x01)); // number of stored records, all
        await responses.until(1);
        expect(responses.values[0]).toEqual(Uint8Array.of(0x05, 0x00, 5, 0));
        // report stored records, >= sequence 4 (filter type 0x01 = sequence number)
        await c.write('1808', '2a52', Uint8Array.of(0x01, 0x03, 0x01, 0x04, 0x00));
        await responses.until(2);
        expect(measurements.values).toEqual(glucose.records.slice(3));
        expect(responses.values[1]).toEqual(Uint8Array.of(0x06, 0x00, 0x01, 0x01));
        // nothing newer: "no records found"
        await c.write('1808', '2a52', Uint8Array.of(0x01, 0x03, 0x01, 0x06, 0x00));
        await responses.until(3);
        expect(responses.values[2]).toEqual(Uint8Array.of(0x06, 0x00, 0x01, 0x06));
      });

      it('aborts a transfer', async () => {
        setup.world.slowRecords(glucose.address, 200);
        const c = await connect(glucose.address);
        const { measurements, responses } = await racp(c);
        await c.write('1808', '2a52', Uint8Array.of(0x01, 0x01));
        await measurements.until(1);
        await c.write('1808', '2a52', Uint8Array.of(0x03, 0x00));
        await responses.until(1);
        expect(responses.values[0]).toEqual(Uint8Array.of(0x06, 0x00, 0x03, 0x01));
        // the marker: the meter takes a new procedure (report number of records), which GLS refuses
        // while a transfer runs (ATT 0xFE): the transfer is over, and it did not run to the end
        await c.write('1808', '2a52', Uint8Array.of(0x04, 0x01));
        await responses.until(2);
        expect(responses.values[1]?.[0]).toBe(0x05);
        expect(measurements.values.length).toBeLessThan(glucose.records.length);
      });

      it('rejects RACP writes before indications are enabled', async () => {
        const c = await connect(glucose.address);
        await expectCode(c.write('1808', '2a52', Uint8Array.of(0x01, 0x01)), 'FAILED');
      });
    });
  });
}
