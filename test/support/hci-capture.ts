import { DATALINK, writeBtsnoop } from '../../gateway';

/**
 * Builds HCI captures byte by byte, as a central's controller interface carries them (Core Vol 4
 * Part E 5.4: commands, ACL data, events), for the btsnoop importer's tests. Everything here is
 * constructed from the specification, not recorded from a device.
 */
export type HciRecord = { kind: 'event'; data: Uint8Array } | { kind: 'acl'; sent: boolean; data: Uint8Array };

const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
/** BD_ADDR little-endian (Vol 4 Part E 5.2) */
const addr = (a: string) =>
  a
    .split(':')
    .reverse()
    .map((x) => parseInt(x, 16));
const bytes = (h: string) => [...Buffer.from(h.replace(/\s+/g, ''), 'hex')];

/** HCI event packet: event code, parameter length, parameters (Vol 4 Part E 5.4.4) */
export const event = (code: number, params: number[]): HciRecord => ({
  kind: 'event',
  data: Uint8Array.from([code, params.length, ...params]),
});

/** AD structure (Core Specification Supplement Part A 1) */
export const ad = (type: number, data: number[]) => [data.length + 1, type, ...data];

/** LE Advertising Report, one report (7.7.65.2): event type, address type, address, data, RSSI */
export const advertisingReport = (address: string, data: number[], rssi: number, eventType = 0x00) =>
  event(0x3e, [0x02, 1, eventType, 0x01, ...addr(address), data.length, ...data, rssi & 0xff]);

/** LE Connection Complete (7.7.65.1) */
export const connectionComplete = (handle: number, address: string) =>
  event(0x3e, [
    0x01,
    0x00,
    ...u16(handle),
    0x00,
    0x01,
    ...addr(address),
    ...u16(0x0018),
    ...u16(0),
    ...u16(0x01f4),
    0x00,
  ]);

/** Disconnection Complete (7.7.5), reason 0x13 remote user terminated */
export const disconnectionComplete = (handle: number) => event(0x05, [0x00, ...u16(handle), 0x13]);

/**
 * An L2CAP basic frame (Vol 3 Part A 3.1) in ACL packets (Vol 4 Part E 5.4.2) of at most
 * `fragment` payload bytes: the first with packet boundary 0b00 (sent) or 0b10 (received), the
 * rest 0b01 (continuing).
 */
export function l2cap(handle: number, sent: boolean, cid: number, pdu: number[], fragment = 27): HciRecord[] {
  const frame = [...u16(pdu.length), ...u16(cid), ...pdu];
  const out: HciRecord[] = [];
  for (let at = 0; at < frame.length; at += fragment) {
    const part = frame.slice(at, at + fragment);
    const pb = at === 0 ? (sent ? 0b00 : 0b10) : 0b01;
    out.push({ kind: 'acl', sent, data: Uint8Array.from([...u16(handle | (pb << 12)), ...u16(part.length), ...part]) });
  }
  return out;
}

/** an ATT PDU on the fixed channel 0x0004 */
export const att = (handle: number, sent: boolean, pdu: number[] | string, fragment?: number) =>
  l2cap(handle, sent, 0x0004, typeof pdu === 'string' ? bytes(pdu) : pdu, fragment);

/** H4 (Android's btsnoop_hci.log, datalink 1002): packet indicator byte; flags bit 0 = received */
export function h4File(records: readonly HciRecord[], startUs = 1_764_547_200_000_000n): Uint8Array {
  return writeBtsnoop(
    DATALINK.H4,
    records.map((r, i) => ({
      flags: r.kind === 'event' ? 0b11 : r.sent ? 0b00 : 0b01,
      timeUs: startUs + BigInt(i) * 10_000n,
      data: Uint8Array.from([r.kind === 'event' ? 0x04 : 0x02, ...r.data]),
    })),
  );
}

/** BlueZ monitor (`btmon -w`, datalink 2001): flags = index << 16 | opcode (3 event, 4 ACL TX, 5 ACL RX) */
export function monitorFile(records: readonly HciRecord[], startUs = 1_764_547_200_000_000n): Uint8Array {
  return writeBtsnoop(
    DATALINK.MONITOR,
    records.map((r, i) => ({
      flags: r.kind === 'event' ? 3 : r.sent ? 4 : 5,
      timeUs: startUs + BigInt(i) * 10_000n,
      data: r.data,
    })),
  );
}

export { bytes, u16 };
