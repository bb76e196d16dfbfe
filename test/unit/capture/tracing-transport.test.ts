import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Advertisement } from '../../../drivers/sdk/definition';
import { BleError, type BleConnection, type BleTransport } from '../../../gateway/ble/transport';
import { Pseudonymizer } from '../../../gateway/capture/pseudonym';
import { parseTrace, serializeTrace, newHeader, type TraceRecordInput } from '../../../gateway/capture/trace-format';
import { TracingTransport } from '../../../gateway/capture/tracing-transport';
import { gatewayConfigSchema } from '../../../gateway/config/schema';
import { createTransport } from '../../../gateway/main';

const A = 'A4:C1:38:00:00:0A';
const B = 'A4:C1:38:00:00:0B';

/** an in-memory BLE stack: enough to see what the tracing layer passes on and records */
function fakeTransport() {
  let scan: ((adv: Advertisement) => void) | undefined;
  let onValue: ((v: Uint8Array) => void) | undefined;
  const disconnects: (() => void)[] = [];
  const conn: BleConnection = {
    address: A,
    has: () => Promise.resolve(true),
    read: (_s, c) => (c === '2a19' ? Promise.resolve(Uint8Array.of(90)) : Promise.reject(new BleError('FAILED', 'x'))),
    write: () => Promise.resolve(),
    subscribe: (_s, _c, cb) => {
      onValue = cb;
      return Promise.resolve(() => Promise.resolve());
    },
    onDisconnect: (l) => void disconnects.push(l),
    disconnect: () => {
      disconnects.forEach((l) => l());
      return Promise.resolve();
    },
  };
  const inner: BleTransport = {
    backend: 'simulated',
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    adapterState: () => 'powered',
    startScan: (cb) => {
      scan = cb;
      return Promise.resolve();
    },
    stopScan: () => Promise.resolve(),
    connect: (address) =>
      address === A ? Promise.resolve(conn) : Promise.reject(new BleError('CONNECT_TIMEOUT', 'no answer')),
    pair: () => Promise.resolve(),
  };
  return {
    inner,
    advertise: (adv: Advertisement) => scan?.(adv),
    notify: (v: Uint8Array) => onValue?.(v),
  };
}

function traced(opts: { devices?: string[]; redact?: string[] } = {}) {
  const fake = fakeTransport();
  const records: TraceRecordInput[] = [];
  let now = 1_000;
  let closed = false;
  const t = new TracingTransport(fake.inner, {
    sink: { record: (r) => void records.push(r), close: () => void (closed = true) },
    pseudonyms: new Pseudonymizer(Buffer.alloc(32, 7)),
    now: () => (now += 10),
    ...opts,
  });
  return { t, fake, records, closed: () => closed };
}

const adv = (address: string, rssi: number): Advertisement => ({
  address,
  rssi,
  name: 'Scale',
  serviceUuids: ['181d'],
  serviceData: { '181d': Uint8Array.of(2, 0x10, 0x27) },
  manufacturerData: {},
});

describe('tracing transport', () => {
  it('records reads, writes, subscriptions and notified values under a pseudonym, passing everything on unchanged', async () => {
    const { t, fake, records, closed } = traced();
    const conn = await t.connect(A);
    expect(await conn.read('180f', '2a19')).toEqual(Uint8Array.of(90));
    await expect(conn.read('1805', '2a2b')).rejects.toMatchObject({ code: 'FAILED' });
    await conn.write('1805', '2A2B', Uint8Array.of(1, 2));
    const got: number[] = [];
    await conn.subscribe('1810', '2a35', (v) => got.push(...v));
    fake.notify(Uint8Array.of(0x16, 0x7c));
    expect(got).toEqual([0x16, 0x7c]);
    await conn.disconnect();
    await expect(t.connect(B)).rejects.toMatchObject({ code: 'CONNECT_TIMEOUT' });
    await t.stop();
    expect(closed()).toBe(true);
    const p = new Pseudonymizer(Buffer.alloc(32, 7));
    expect(records.map((r) => [r.type, r.device, 'value' in r ? r.value : 'error' in r ? r.error : undefined])).toEqual(
      [
        ['connect', p.address(A), undefined],
        ['read', p.address(A), '5a'],
        ['read', p.address(A), 'FAILED'],
        ['write', p.address(A), '0102'],
        ['subscribe', p.address(A), undefined],
        ['notify', p.address(A), '167c'],
        ['disconnect', p.address(A), undefined],
        ['connect', p.address(B), 'CONNECT_TIMEOUT'],
      ],
    );
    expect(records[3]).toMatchObject({ service: '1805', characteristic: '2a2b' });
    // pseudonyms are static random addresses, stable for one key, different for another
    expect(p.address(A)).toMatch(/^[C-F][0-9A-F]:/);
    expect(new Pseudonymizer(Buffer.alloc(32, 8)).address(A)).not.toBe(p.address(A));
    // what it records, the trace reader accepts
    const text = serializeTrace({
      header: newHeader('gateway'),
      records: parseTrace([JSON.stringify(newHeader('gateway')), ...records.map((r) => JSON.stringify(r))].join('\n'))
        .records,
    });
    expect(text).not.toContain(A);
  });

  it('never writes a secret: UDS consent codes (0x2A9F) and --redact characteristics keep only their length; pairing has no passkey', async () => {
    const { t, records } = traced({ redact: ['FFF1'] });
    const conn = await t.connect(A);
    await conn.write('181c', '2a9f', Uint8Array.of(0x01, 0x39, 0x30)); // Register New User, consent 12345
    await conn.write('fff0', 'fff1', Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    await t.pair?.(A, { timeoutMs: 1000 });
    const text = JSON.stringify(records);
    expect(text).not.toContain('3930');
    expect(text).not.toContain('deadbeef');
    expect(records.filter((r) => r.type === 'write')).toEqual([
      expect.objectContaining({ characteristic: '2a9f', value: '', redacted: 3 }),
      expect.objectContaining({ characteristic: 'fff1', value: '', redacted: 4 }),
    ]);
    expect(records.at(-1)).toEqual({
      type: 'pair',
      device: new Pseudonymizer(Buffer.alloc(32, 7)).address(A),
      t: expect.any(Number) as number,
    });
  });

  it('advertisements: only the traced devices, a change at once, an unchanged one at most every 5 s', async () => {
    const { t, fake, records } = traced({ devices: [A.toLowerCase()] });
    const seen: string[] = [];
    await t.startScan((a) => seen.push(a.address));
    fake.advertise(adv(A, -60));
    fake.advertise(adv(A, -61)); // same content, other RSSI: not written
    fake.advertise({ ...adv(A, -60), serviceData: { '181d': Uint8Array.of(0x22, 0x10, 0x27) } });
    fake.advertise(adv(B, -50)); // not traced, still passed on
    expect(seen).toEqual([A, A, A, B]);
    expect(records.map((r) => (r.type === 'advertisement' ? r.serviceData : undefined))).toEqual([
      { '181d': '021027' },
      { '181d': '221027' },
    ]);
  });
});

describe('noble backend', () => {
  it('is experimental: the configuration says so and the gateway logs BLE_BACKEND_EXPERIMENTAL', () => {
    const shape = gatewayConfigSchema.shape.ble.unwrap();
    expect(shape.shape.backend.description).toMatch(/noble: HCI, experimental/);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const config = gatewayConfigSchema.parse({
      gatewayId: 'gw-noble-01',
      mqtt: { url: 'mqtt://127.0.0.1:1883', password: 'x' },
      ble: { backend: 'noble' },
    });
    const transport = createTransport(config, log);
    expect(transport.backend).toBe('noble');
    expect(lines.join('')).toContain('"code":"BLE_BACKEND_EXPERIMENTAL"');
    lines.length = 0;
    createTransport(gatewayConfigSchema.parse({ ...config, ble: { backend: 'bluez' } }), log);
    expect(lines).toEqual([]);
  });
});
