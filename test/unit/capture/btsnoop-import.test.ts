import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BtsnoopError,
  DATALINK,
  importBtsnoop,
  parseBtsnoop,
  parseTrace,
  Pseudonymizer,
  serializeTrace,
  writeBtsnoop,
} from '../../../gateway';
import {
  blsCuffSession,
  CTS_READ,
  CTS_WRITE,
  CUFF_ADDRESS,
  FIRST_MEASUREMENT,
  SECOND_MEASUREMENT,
  TEST_KEY,
} from '../../support/bls-cuff-capture';
import { ad, advertisingReport, att, connectionComplete, event, h4File, monitorFile } from '../../support/hci-capture';

const CAPTURE_DIR = join(import.meta.dirname, '../../captures/bls-cuff-constructed');
const pseudonyms = () => new Pseudonymizer(TEST_KEY);

describe('btsnoop importer', () => {
  it('reads an Android (H4) log built byte by byte into the trace: advertisement, discovery-named reads, writes, CCCD, indications', () => {
    const { trace, stats } = importBtsnoop(h4File(blsCuffSession()), {
      pseudonyms: pseudonyms(),
      source: 'android-hci',
    });
    const cuff = pseudonyms().address(CUFF_ADDRESS);
    expect(cuff).not.toBe(CUFF_ADDRESS);
    expect(serializeTrace(trace)).not.toContain('A4:C1:38');
    expect(trace.header).toMatchObject({ format: 'vigil-ble-trace', version: 1, source: 'android-hci' });
    expect(stats).toMatchObject({ truncatedRecords: 0, advertisements: 1, unmappedHandles: [] });
    const r = trace.records;
    expect(r.filter((x) => x.type === 'advertisement')).toEqual([
      expect.objectContaining({
        device: cuff,
        name: 'BP Cuff',
        rssi: -58,
        serviceUuids: ['1810'],
        connectable: true,
      }),
    ]);
    expect(
      r.filter((x) => x.type === 'characteristic').map((x) => [x.service, x.characteristic, x.handle, x.properties]),
    ).toEqual([
      ['1810', '2a35', 0x12, ['indicate']],
      ['1810', '2a49', 0x15, ['read']],
      ['1805', '2a2b', 0x22, ['read', 'write', 'notify']],
      ['180f', '2a19', 0x32, ['read']],
    ]);
    const ops = r
      .filter((x) => !['advertisement', 'characteristic'].includes(x.type))
      .map((x) => {
        const o = x as { type: string; service?: string; characteristic?: string; value?: string; indicate?: boolean };
        return [o.type, o.service, o.characteristic, o.value ?? o.indicate];
      });
    expect(ops).toEqual([
      ['connect', undefined, undefined, undefined],
      ['read', '180f', '2a19', '5a'],
      ['read', '1810', '2a49', '0000'],
      ['read', '1805', '2a2b', CTS_READ],
      ['write', '1805', '2a2b', CTS_WRITE],
      ['subscribe', '1810', '2a35', true],
      ['notify', '1810', '2a35', FIRST_MEASUREMENT],
      // reassembled from three ACL fragments
      ['notify', '1810', '2a35', SECOND_MEASUREMENT],
      ['disconnect', undefined, undefined, undefined],
    ]);
    expect(r.find((x) => x.type === 'notify')).toMatchObject({ kind: 'indication', handle: 0x12 });
    // times: milliseconds from the first packet, in order
    const times = r.map((x) => x.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(r.at(-1)?.t).toBeGreaterThan(0);
    // what the importer writes, the trace reader accepts
    expect(parseTrace(serializeTrace(trace))).toEqual(trace);
  });

  it('reads the same session from a btmon -w file (monitor datalink 2001) to the same records', () => {
    const h4 = importBtsnoop(h4File(blsCuffSession()), { pseudonyms: pseudonyms() });
    const mon = importBtsnoop(monitorFile(blsCuffSession()), { pseudonyms: pseudonyms() });
    expect(parseBtsnoop(monitorFile(blsCuffSession())).datalink).toBe(DATALINK.MONITOR);
    expect(mon.trace.records).toEqual(h4.trace.records);
  });

  it('the committed constructed capture is the byte-by-byte session, and imports to the committed trace', () => {
    const file = readFileSync(join(CAPTURE_DIR, 'capture.btsnoop'));
    expect(Buffer.compare(file, h4File(blsCuffSession()))).toBe(0);
    const committed = parseTrace(readFileSync(join(CAPTURE_DIR, 'trace.jsonl'), 'utf8'));
    const { trace } = importBtsnoop(file, {
      pseudonyms: pseudonyms(),
      source: 'android-hci',
      note: committed.header.note ?? '',
      now: new Date(committed.header.createdAt),
    });
    expect(trace).toEqual(committed);
  });

  it('keeps the handle of an operation no discovery names, and reports it', () => {
    const { trace, stats } = importBtsnoop(
      h4File([
        connectionComplete(0x41, 'C0:00:00:00:00:07'),
        ...att(0x41, true, '524800aa55'),
        ...att(0x41, false, '1b4900ff'),
      ]),
      { pseudonyms: pseudonyms() },
    );
    expect(stats.unmappedHandles).toEqual([0x48, 0x49]);
    expect(trace.records.filter((r) => r.type !== 'connect')).toEqual([
      expect.objectContaining({ type: 'write', handle: 0x48, value: 'aa55', withResponse: false }),
      expect.objectContaining({ type: 'notify', handle: 0x49, value: 'ff', kind: 'notification' }),
    ]);
  });

  it('advertisements: service data, manufacturer data, 128-bit UUIDs; unchanged repeats are dropped', () => {
    const data = [
      ...ad(0x16, [0x1d, 0x18, 0x02, 0x10, 0x27]),
      ...ad(0xff, [0x57, 0x01, 0xaa]),
      ...ad(0x07, [...Buffer.from('00112233445566778899aabbccddeeff', 'hex')]),
    ];
    const { trace } = importBtsnoop(
      h4File([
        advertisingReport('C0:11:22:33:44:55', data, -70, 0x03),
        advertisingReport('C0:11:22:33:44:55', data, -71, 0x03),
      ]),
      { pseudonyms: pseudonyms() },
    );
    expect(trace.records).toEqual([
      expect.objectContaining({
        type: 'advertisement',
        serviceData: { '181d': '021027' },
        manufacturerData: { '343': 'aa' },
        serviceUuids: ['ffeeddcc-bbaa-9988-7766-554433221100'],
        connectable: false,
        rssi: -70,
      }),
    ]);
  });

  it('refuses what is not a btsnoop file with a stable code; a record cut short ends the file cleanly', () => {
    expect(() => importBtsnoop(Buffer.from('not a capture at all'), { pseudonyms: pseudonyms() })).toThrow(
      BtsnoopError,
    );
    const wrong = writeBtsnoop(1004, []);
    expect(() => parseBtsnoop(wrong)).toThrow(/BTSNOOP_DATALINK/);
    const whole = h4File([event(0x0e, [0x01, 0x03, 0x0c, 0x00])]);
    const cut = whole.subarray(0, whole.length - 2);
    expect(parseBtsnoop(cut).packets).toHaveLength(0);
    expect(parseBtsnoop(whole).packets).toHaveLength(1);
  });
});
