import { describe, expect, it } from 'vitest';
import {
  FRAME,
  FrameAssembler,
  OMRON_MODELS,
  acknowledgeUnread,
  decodeFrame,
  decodeRecord,
  decodeUnread,
  encodeFrame,
  encodeRecord,
  endFrame,
  omronModel,
  readFrame,
  ringReads,
  splitChannels,
  startFrame,
} from '../../../drivers/vendors/omron-protocol';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const model = (name: string) => {
  const m = omronModel(name);
  if (!m) throw new Error(`no map for ${name}`);
  return m;
};

/** Vectors from omblepy's documentation (github.com/userx14/omblepy, commit 708c13e, README and omblepy.py). */
describe('Omron EEPROM transfer frames', () => {
  it('encodes the documented commands byte for byte', () => {
    expect(hex(startFrame())).toBe('0800000000100018'); // omblepy.py startTransmission
    expect(hex(endFrame())).toBe('080f000000000007'); // omblepy.py endTransmission
    expect(hex(readFrame(0x0260, 0x26))).toBe('080100026026004d'); // README "Packet header for reads"
  });

  it('decodes a read reply and refuses a bad checksum or length', () => {
    const reply = encodeFrame(FRAME.readReply, 0x02ac, bytes('54671a422f87078c'));
    expect(decodeFrame(reply)).toEqual({ type: 0x8100, address: 0x02ac, data: bytes('54671a422f87078c') });
    const corrupt = Uint8Array.from(reply);
    corrupt[7] = (corrupt[7] ?? 0) ^ 0x01;
    expect(() => decodeFrame(corrupt)).toThrow(/OMRON_CHECKSUM/);
    expect(() => decodeFrame(reply.subarray(0, 10))).toThrow(/OMRON_FRAME/);
  });

  it('reassembles a reply split over the four receive channels', () => {
    const data = Uint8Array.from({ length: 0x38 }, (_, i) => i);
    const frame = encodeFrame(FRAME.readReply, 0x0824, data);
    expect(frame.length).toBe(64);
    const pieces = splitChannels(frame);
    expect(pieces).toHaveLength(4);
    const a = new FrameAssembler();
    expect(a.missing()).toEqual([]);
    expect(a.push(0, pieces[0] ?? new Uint8Array())).toBeUndefined();
    expect(a.missing()).toEqual([1, 2, 3]);
    expect(a.push(2, pieces[2] ?? new Uint8Array())).toBeUndefined();
    expect(a.push(1, pieces[1] ?? new Uint8Array())).toBeUndefined();
    const whole = a.push(3, pieces[3] ?? new Uint8Array());
    expect(whole && decodeFrame(whole).data).toEqual(data);
    expect(a.missing()).toEqual([]);
  });
});

describe('Omron records and unread counters', () => {
  it('decodes a HEM-7322T record laid out as deviceSpecific/hem-7322t.py documents (big-endian, 14 octets)', () => {
    // dia 84 | sys 128-25 | year 26 | pulse 66 | mov 0 ihb 0 month 11 day 28 hour 7 | 4 bits | minute 30 second 12
    const r = decodeRecord(bytes('54671a422f87078c000000000000'), model('HEM-7322T').record);
    expect(r).toEqual({
      systolic: 128,
      diastolic: 84,
      pulse: 66,
      deviceTime: '2026-11-28T07:30:12',
      movement: false,
      irregularHeartbeat: false,
    });
  });

  it('reads a HEM-7361T record (little-endian, 16 octets: systolic first, deviceSpecific/hem-7361t.py)', () => {
    const m = model('HEM-7361T-D');
    const rec = {
      systolic: 141,
      diastolic: 92,
      pulse: 71,
      deviceTime: '2026-02-03T21:45:59',
      movement: true,
      irregularHeartbeat: true,
    };
    const raw = encodeRecord(rec, m.record, m.recordSize);
    expect([raw[0], raw[1], raw[2], (raw[3] ?? 0) & 0x3f]).toEqual([141 - 25, 92, 71, 26]);
    expect(decodeRecord(raw, m.record)).toEqual(rec);
  });

  it('skips empty and half-written slots, clamps seconds above 59', () => {
    const m = model('HEM-7322T');
    expect(decodeRecord(new Uint8Array(14).fill(0xff), m.record)).toBeUndefined();
    expect(decodeRecord(new Uint8Array(14), m.record)).toBeUndefined(); // month 0
    const late = encodeRecord(
      {
        systolic: 120,
        diastolic: 80,
        pulse: 60,
        deviceTime: '2026-01-01T10:00:63',
        movement: false,
        irregularHeartbeat: false,
      },
      m.record,
      14,
    );
    expect(decodeRecord(late, m.record)?.deviceTime).toBe('2026-01-01T10:00:59');
  });

  it('reads ring positions and unread counts, and acknowledges with 0x8000 keeping the positions (sharedDriver.py)', () => {
    const block = bytes('0005000100028000');
    expect(decodeUnread(block, 2, 'big')).toEqual([
      { nextSlot: 5, unread: 2 },
      { nextSlot: 1, unread: 0 },
    ]);
    expect(hex(acknowledgeUnread(block, 'big'))).toBe('0005000180008000');
    expect(hex(acknowledgeUnread(bytes('0500010002000080' + '00'.repeat(8)), 'little'))).toBe(
      '0500010000800080' + '00'.repeat(8),
    );
  });

  it('locates the unread records in the ring, wrapped or not', () => {
    const m = model('HEM-7322T');
    expect(ringReads(m, 0, 2, 3)).toEqual([[0x02ac + 14, 28]]);
    // 3 unread with slot 1 next: slots 98, 99 then 0
    expect(ringReads(m, 1, 3, 1)).toEqual([
      [0x0824 + 98 * 14, 28],
      [0x0824, 14],
    ]);
    expect(ringReads(m, 0, 0, 7)).toEqual([]);
  });

  it('knows the documented models by their DIS model number only', () => {
    expect(omronModel('HEM-7155T-EBK')?.recordsPerUser).toBe(60);
    expect(omronModel('BP7000')).toBeUndefined();
    expect(OMRON_MODELS.every((m) => m.userStart.length >= 1)).toBe(true);
  });
});
