import { normalizeUuid } from '../../drivers/sdk/uuid';
import { parseBtsnoop, type HciPacket } from './btsnoop';
import type { Pseudonymizer } from './pseudonym';
import { newHeader, toHex, type Trace, type TraceRecord } from './trace-format';
import { ALWAYS_REDACTED } from './tracing-transport';

/**
 * btsnoop capture -> Vigil trace. The capture is the central's (phone app, btmon on a PC) view:
 * its HCI commands/ACL sent and events/ACL received. What is read:
 *  - LE Advertising Report / Extended Advertising Report events (Core Vol 4 Part E 7.7.65.2 and
 *    7.7.65.13), their AD structures (Core Specification Supplement Part A 1): advertisements
 *  - LE (Enhanced) Connection Complete (7.7.65.1, 7.7.65.10) and Disconnection Complete (7.7.5):
 *    which device a connection handle is
 *  - ACL data (Vol 4 Part E 5.4.2) reassembled into L2CAP basic frames (Vol 3 Part A 3.1) on the
 *    ATT fixed channel 0x0004; ATT PDUs (Vol 3 Part F 3.4) sent by the central as a client:
 *    Read/Read Blob, Write Request/Command, their responses or Error Response, and the peer's
 *    Handle Value Notification/Indication
 *  - GATT discovery (Vol 3 Part G 4.4-4.7: Read By Group Type for 0x2800, Read By Type for
 *    0x2803, Find Information) to name handles by service and characteristic UUID, and to tell a
 *    CCCD write (0x2902, Vol 3 Part G 3.3.3.3) apart as a subscription
 * Never read: SMP (channel 0x0006: pairing keys), HCI commands carrying keys (LTK replies), any
 * ATT request the peer sends to the central's own GATT server.
 */
export interface ImportOptions {
  pseudonyms: Pseudonymizer;
  note?: string;
  /** Android's btsnoop_hci.log and btmon files are the same format; this only labels the header */
  source?: 'btsnoop' | 'android-hci';
  now?: Date;
}

export interface ImportResult {
  trace: Trace;
  stats: {
    packets: number;
    truncatedRecords: number;
    attPdus: number;
    advertisements: number;
    /** operations whose handle no discovery in the capture names (the trace keeps the handle) */
    unmappedHandles: number[];
  };
}

const ATT_CID = 0x0004;
const PROPERTY_NAMES: [number, string][] = [
  [0x01, 'broadcast'],
  [0x02, 'read'],
  [0x04, 'write-without-response'],
  [0x08, 'write'],
  [0x10, 'notify'],
  [0x20, 'indicate'],
  [0x40, 'authenticated-signed-writes'],
  [0x80, 'extended-properties'],
];

interface CharInfo {
  /** when the capture discovered it */
  t: number;
  service?: string;
  characteristic: string;
  declHandle: number;
  valueHandle: number;
  properties: string[];
  /** last handle of the characteristic's descriptors */
  endHandle: number;
}

interface DeviceGatt {
  services: { start: number; end: number; uuid: string }[];
  chars: CharInfo[];
  cccds: Set<number>;
}

/** one pending ATT request of the central (ATT allows one outstanding request per bearer) */
type Pending =
  | { op: 'read'; handle: number; t: number }
  | { op: 'blob'; handle: number; t: number }
  | { op: 'write'; handle: number; value: Uint8Array; t: number }
  | { op: 'group'; type: string }
  | { op: 'by-type'; type: string }
  | { op: 'find-info' }
  | { op: 'other' };

interface Link {
  device: string;
  pending?: Pending;
  /** L2CAP reassembly per direction */
  rx?: { need: number; parts: Uint8Array[]; have: number };
  tx?: { need: number; parts: Uint8Array[]; have: number };
}

export function importBtsnoop(bytes: Uint8Array, opts: ImportOptions): ImportResult {
  const file = parseBtsnoop(bytes);
  const first = file.packets[0]?.timeUs ?? 0n;
  const raws: TraceRecord[] = [];
  const links = new Map<string, Link>();
  const gatts = new Map<string, DeviceGatt>();
  const adState = new Map<string, string>();
  let attPdus = 0;
  let advertisements = 0;
  const gattOf = (device: string) => {
    let g = gatts.get(device);
    if (!g) gatts.set(device, (g = { services: [], chars: [], cccds: new Set() }));
    return g;
  };

  for (const p of file.packets) {
    const t = Number(p.timeUs - first) / 1000;
    if (p.kind === 'event' && !p.sent) {
      const adverts = onEvent(p, t, links, opts.pseudonyms, raws);
      for (const a of adverts) {
        // BlueZ reports a device's data when it changes: the same here, so files stay small
        const key = JSON.stringify({ ...a, t: 0, rssi: 0 });
        if (adState.get(a.device) === key) continue;
        adState.set(a.device, key);
        raws.push(a);
        advertisements++;
      }
    } else if (p.kind === 'acl') {
      const frame = reassemble(p, links);
      if (!frame || frame.cid !== ATT_CID) continue;
      attPdus++;
      onAtt(frame.link, frame.pdu, p.sent, t, raws, gattOf(frame.link.device));
    }
  }

  // name handles by UUID, now that the whole capture's discovery is known
  const unmapped = new Set<number>();
  const secret = new Set(ALWAYS_REDACTED);
  const records: TraceRecord[] = [];
  for (const [device, g] of gatts)
    for (const c of g.chars)
      records.push({
        type: 'characteristic',
        device,
        t: c.t,
        ...(c.service ? { service: c.service } : {}),
        characteristic: c.characteristic,
        handle: c.valueHandle,
        properties: c.properties,
        present: true,
      });
  for (const r of raws) {
    if (!('handle' in r) || r.handle === undefined || r.type === 'characteristic') {
      records.push(r);
      continue;
    }
    const g = gatts.get(r.device);
    const c = g?.chars.find((x) => x.valueHandle === r.handle);
    let out: TraceRecord = r;
    if (c) out = { ...r, ...(c.service ? { service: c.service } : {}), characteristic: c.characteristic };
    else if (r.type === 'write' && g && isCccdWrite(g, r.handle, r.value)) {
      const h = r.handle;
      const owner = g.chars.find((x) => h > x.valueHandle && h <= x.endHandle);
      out = subscription({ ...r, handle: h }, owner);
    } else unmapped.add(r.handle);
    if ((out.type === 'read' || out.type === 'write' || out.type === 'notify') && out.value && out.characteristic) {
      if (secret.has(out.characteristic)) out = { ...out, value: '', redacted: out.value.length / 2 };
    }
    records.push(out);
  }
  records.sort((a, b) => a.t - b.t);
  return {
    trace: { header: newHeader(opts.source ?? 'btsnoop', opts.note, opts.now), records },
    stats: {
      packets: file.packets.length,
      truncatedRecords: file.truncated,
      attPdus,
      advertisements,
      unmappedHandles: [...unmapped].sort((a, b) => a - b),
    },
  };
}

/** a write of 0x0000/0x0001/0x0002 to a CCCD (Vol 3 Part G 3.3.3.3) */
function isCccdWrite(g: DeviceGatt, handle: number, value: string): boolean {
  if (!['0000', '0100', '0200'].includes(value)) return false;
  if (g.cccds.has(handle)) return true;
  // no Find Information in the capture: a 2-byte 0/1/2 write inside a characteristic's descriptor range
  return g.cccds.size === 0 && g.chars.some((c) => handle > c.valueHandle && handle <= c.endHandle);
}

function subscription(r: TraceRecord & { type: 'write'; handle: number }, owner: CharInfo | undefined): TraceRecord {
  const base = {
    device: r.device,
    t: r.t,
    ...(owner?.service ? { service: owner.service } : {}),
    ...(owner ? { characteristic: owner.characteristic, handle: owner.valueHandle } : { handle: r.handle }),
  };
  if (r.value === '0000') return { type: 'unsubscribe', ...base };
  return { type: 'subscribe', ...base, indicate: r.value === '0200', ...(r.error ? { error: r.error } : {}) };
}

const le16 = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
/** BD_ADDR is little-endian on the wire (Vol 4 Part E 5.2) */
const addressAt = (b: Uint8Array, at: number) =>
  [...b.subarray(at, at + 6)]
    .reverse()
    .map((x) => x.toString(16).padStart(2, '0').toUpperCase())
    .join(':');
const linkKey = (p: HciPacket, handle: number) => `${p.index}:${handle}`;

/** 128-bit UUIDs are little-endian in ATT and AD data (Vol 3 Part B 2.5.1) */
function uuidAt(b: Uint8Array, at: number, len: number): string {
  const bytes = [...b.subarray(at, at + len)].reverse().map((x) => x.toString(16).padStart(2, '0'));
  if (len === 2) return normalizeUuid(bytes.join(''));
  const h = bytes.join('');
  return normalizeUuid(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
}

type AdvertRecord = TraceRecord & { type: 'advertisement' };

function onEvent(
  p: HciPacket,
  t: number,
  links: Map<string, Link>,
  pseudonyms: Pseudonymizer,
  raws: TraceRecord[],
): AdvertRecord[] {
  const d = p.data;
  const code = d[0];
  const params = d.subarray(2, 2 + (d[1] ?? 0));
  if (code === 0x05 && params[0] === 0x00) {
    // Disconnection Complete: status, handle, reason
    const key = linkKey(p, le16(params, 1) & 0x0fff);
    const link = links.get(key);
    if (link) raws.push({ type: 'disconnect', device: link.device, t });
    links.delete(key);
    return [];
  }
  if (code !== 0x3e) return [];
  const sub = params[0];
  if (sub === 0x01 || sub === 0x0a || sub === 0x29) {
    // LE (Enhanced) Connection Complete: status, handle, role, peer address type, peer address
    const device = pseudonyms.address(addressAt(params, 6));
    if (params[1] !== 0x00) {
      raws.push({ type: 'connect', device, t, error: `HCI_0x${(params[1] ?? 0).toString(16).padStart(2, '0')}` });
      return [];
    }
    links.set(linkKey(p, le16(params, 2) & 0x0fff), { device });
    raws.push({ type: 'connect', device, t });
    return [];
  }
  if (sub === 0x02) return legacyReports(params, t, pseudonyms);
  if (sub === 0x0d) return extendedReports(params, t, pseudonyms);
  return [];
}

/** LE Advertising Report: per report event type, address type, address, data length, data, RSSI */
function legacyReports(params: Uint8Array, t: number, pseudonyms: Pseudonymizer): AdvertRecord[] {
  const out: AdvertRecord[] = [];
  let at = 2;
  for (let i = 0; i < (params[1] ?? 0) && at + 9 <= params.length; i++) {
    const eventType = params[at] ?? 0;
    const address = addressAt(params, at + 2);
    const len = params[at + 8] ?? 0;
    const data = params.subarray(at + 9, at + 9 + len);
    const rssi = ((params[at + 9 + len] ?? 0) << 24) >> 24;
    at += 10 + len;
    // ADV_IND and ADV_DIRECT_IND are connectable (Vol 4 Part E 7.7.65.2); SCAN_RSP says nothing
    out.push(
      advert(pseudonyms.address(address), t, data, rssi, eventType <= 1 ? true : eventType === 4 ? undefined : false),
    );
  }
  return out;
}

/** LE Extended Advertising Report: 24 fixed bytes per report, then the data (7.7.65.13) */
function extendedReports(params: Uint8Array, t: number, pseudonyms: Pseudonymizer): AdvertRecord[] {
  const out: AdvertRecord[] = [];
  let at = 2;
  for (let i = 0; i < (params[1] ?? 0) && at + 24 <= params.length; i++) {
    const eventType = le16(params, at);
    const address = addressAt(params, at + 3);
    const rssi = ((params[at + 13] ?? 0) << 24) >> 24;
    const len = params[at + 23] ?? 0;
    const data = params.subarray(at + 24, at + 24 + len);
    at += 24 + len;
    out.push(advert(pseudonyms.address(address), t, data, rssi, (eventType & 0x01) === 1));
  }
  return out;
}

/** AD structures: length, AD type, data (Core Specification Supplement Part A 1; Assigned Numbers 2.3) */
function advert(device: string, t: number, data: Uint8Array, rssi: number, connectable?: boolean): AdvertRecord {
  const r: AdvertRecord = {
    type: 'advertisement',
    device,
    t,
    serviceUuids: [],
    serviceData: {},
    manufacturerData: {},
    ...(rssi !== 127 ? { rssi: Math.max(-127, Math.min(20, rssi)) } : {}),
    ...(connectable !== undefined ? { connectable } : {}),
  };
  for (let at = 0; at < data.length;) {
    const len = data[at] ?? 0;
    if (len === 0 || at + 1 + len > data.length) break;
    const type = data[at + 1];
    const v = data.subarray(at + 2, at + 1 + len);
    at += 1 + len;
    if (type === 0x02 || type === 0x03) for (let i = 0; i + 2 <= v.length; i += 2) r.serviceUuids.push(uuidAt(v, i, 2));
    else if (type === 0x06 || type === 0x07)
      for (let i = 0; i + 16 <= v.length; i += 16) r.serviceUuids.push(uuidAt(v, i, 16));
    else if ((type === 0x08 || type === 0x09) && v.length) r.name = Buffer.from(v).toString('utf8');
    else if (type === 0x16 && v.length >= 2) r.serviceData[uuidAt(v, 0, 2)] = toHex(v.subarray(2));
    else if (type === 0x21 && v.length >= 16) r.serviceData[uuidAt(v, 0, 16)] = toHex(v.subarray(16));
    else if (type === 0xff && v.length >= 2) r.manufacturerData[String(le16(v, 0))] = toHex(v.subarray(2));
  }
  return r;
}

/**
 * ACL -> L2CAP: the packet boundary flag (Vol 4 Part E 5.4.2) 0b01 continues a frame, anything
 * else starts one; a basic frame is complete when its L2CAP length (Vol 3 Part A 3.1) is in.
 */
function reassemble(p: HciPacket, links: Map<string, Link>): { link: Link; cid: number; pdu: Uint8Array } | undefined {
  const d = p.data;
  if (d.length < 4) return undefined;
  const hf = le16(d, 0);
  const link = links.get(linkKey(p, hf & 0x0fff));
  if (!link) return undefined;
  const payload = d.subarray(4, 4 + le16(d, 2));
  const dir = p.sent ? 'tx' : 'rx';
  const pb = (hf >> 12) & 0x3;
  if (pb === 0b01) {
    const r = link[dir];
    if (!r) return undefined;
    r.parts.push(payload);
    r.have += payload.length;
  } else {
    if (payload.length < 4) return undefined;
    link[dir] = { need: le16(payload, 0) + 4, parts: [payload], have: payload.length };
  }
  const r = link[dir];
  if (!r || r.have < r.need) return undefined;
  link[dir] = undefined;
  const frame = Buffer.concat(r.parts).subarray(0, r.need);
  return { link, cid: le16(frame, 2), pdu: frame.subarray(4) };
}

function onAtt(link: Link, pdu: Uint8Array, sent: boolean, t: number, raws: TraceRecord[], g: DeviceGatt): void {
  const op = pdu[0];
  const device = link.device;
  if (sent) {
    // the central's requests (its own server's responses and notifications are not our concern)
    switch (op) {
      case 0x0a:
        link.pending = { op: 'read', handle: le16(pdu, 1), t };
        return;
      case 0x0c:
        link.pending = { op: 'blob', handle: le16(pdu, 1), t };
        return;
      case 0x12:
        link.pending = { op: 'write', handle: le16(pdu, 1), value: pdu.subarray(3), t };
        return;
      case 0x52:
        raws.push({
          type: 'write',
          device,
          t,
          handle: le16(pdu, 1),
          value: toHex(pdu.subarray(3)),
          withResponse: false,
        });
        return;
      case 0x10:
        link.pending = { op: 'group', type: uuidAt(pdu, 5, pdu.length - 5) };
        return;
      case 0x08:
        link.pending = { op: 'by-type', type: uuidAt(pdu, 5, pdu.length - 5) };
        return;
      case 0x04:
        link.pending = { op: 'find-info' };
        return;
      case 0x02:
      case 0x06:
      case 0x0e:
      case 0x16:
      case 0x18:
      case 0x20:
        link.pending = { op: 'other' };
        return;
      default:
        return;
    }
  }
  const pending = link.pending;
  switch (op) {
    case 0x1b:
    case 0x1d:
      raws.push({
        type: 'notify',
        device,
        t,
        handle: le16(pdu, 1),
        value: toHex(pdu.subarray(3)),
        kind: op === 0x1b ? 'notification' : 'indication',
      });
      return;
    case 0x01: {
      // Error Response: request opcode, handle, error code (Vol 3 Part F 3.4.1.1)
      link.pending = undefined;
      const error = `ATT_0x${(pdu[4] ?? 0).toString(16).padStart(2, '0')}`;
      if (pending?.op === 'read') raws.push({ type: 'read', device, t: pending.t, handle: pending.handle, error });
      else if (pending?.op === 'write')
        raws.push({
          type: 'write',
          device,
          t: pending.t,
          handle: pending.handle,
          value: toHex(pending.value),
          withResponse: true,
          error,
        });
      return;
    }
    case 0x0b:
      if (pending?.op === 'read')
        raws.push({ type: 'read', device, t: pending.t, handle: pending.handle, value: toHex(pdu.subarray(1)) });
      link.pending = undefined;
      return;
    case 0x0d: {
      // a long value: the blob continues the last read of the handle
      if (pending?.op === 'blob') {
        const last = [...raws]
          .reverse()
          .find((r) => r.type === 'read' && r.device === device && r.handle === pending.handle);
        if (last?.type === 'read' && last.value !== undefined) last.value += toHex(pdu.subarray(1));
      }
      link.pending = undefined;
      return;
    }
    case 0x13:
      if (pending?.op === 'write')
        raws.push({
          type: 'write',
          device,
          t: pending.t,
          handle: pending.handle,
          value: toHex(pending.value),
          withResponse: true,
        });
      link.pending = undefined;
      return;
    case 0x11:
      if (pending?.op === 'group' && (pending.type === '2800' || pending.type === '2801')) groupResponse(pdu, g);
      link.pending = undefined;
      return;
    case 0x09:
      if (pending?.op === 'by-type' && pending.type === '2803') characteristicResponse(pdu, g, t);
      link.pending = undefined;
      return;
    case 0x05:
      if (pending?.op === 'find-info') findInfoResponse(pdu, g);
      link.pending = undefined;
      return;
    default:
      if (op !== undefined && op % 2 === 1 && op < 0x20) link.pending = undefined;
  }
}

/** Read By Group Type Response: length, then (start, end group handle, service UUID) */
function groupResponse(pdu: Uint8Array, g: DeviceGatt): void {
  const len = pdu[1] ?? 0;
  if (len < 6) return;
  for (let at = 2; at + len <= pdu.length; at += len) {
    const s = { start: le16(pdu, at), end: le16(pdu, at + 2), uuid: uuidAt(pdu, at + 4, len - 4) };
    if (!g.services.some((x) => x.start === s.start)) g.services.push(s);
  }
  nameServices(g);
}

/** Read By Type Response for 0x2803: (declaration handle, properties, value handle, UUID) */
function characteristicResponse(pdu: Uint8Array, g: DeviceGatt, t: number): void {
  const len = pdu[1] ?? 0;
  if (len !== 7 && len !== 21) return;
  for (let at = 2; at + len <= pdu.length; at += len) {
    const props = pdu[at + 2] ?? 0;
    const c: CharInfo = {
      t,
      declHandle: le16(pdu, at),
      valueHandle: le16(pdu, at + 3),
      characteristic: uuidAt(pdu, at + 5, len - 5),
      properties: PROPERTY_NAMES.filter(([bit]) => props & bit).map(([, n]) => n),
      endHandle: le16(pdu, at + 3),
    };
    if (!g.chars.some((x) => x.valueHandle === c.valueHandle)) g.chars.push(c);
  }
  g.chars.sort((a, b) => a.declHandle - b.declHandle);
  nameServices(g);
}

/** Find Information Response: format (1: 16-bit, 2: 128-bit UUIDs), then (handle, UUID) */
function findInfoResponse(pdu: Uint8Array, g: DeviceGatt): void {
  const size = pdu[1] === 1 ? 2 : 16;
  for (let at = 2; at + 2 + size <= pdu.length; at += 2 + size)
    if (uuidAt(pdu, at + 2, size) === '2902') g.cccds.add(le16(pdu, at));
}

/** each characteristic belongs to the service whose range holds it and ends before the next one */
function nameServices(g: DeviceGatt): void {
  g.chars.forEach((c, i) => {
    const s = g.services.find((x) => c.declHandle >= x.start && c.declHandle <= x.end);
    if (s) c.service = s.uuid;
    const next = g.chars[i + 1];
    const end = Math.min(s?.end ?? 0xffff, next && (!s || next.declHandle <= s.end) ? next.declHandle - 1 : 0xffff);
    c.endHandle = Math.max(c.valueHandle, end);
  });
}
