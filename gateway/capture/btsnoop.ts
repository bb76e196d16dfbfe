/**
 * btsnoop files: `btmon -w`, Android's "Bluetooth HCI snoop log" (btsnoop_hci.log), Wireshark.
 * The format is Symbian's variant of the snoop format (RFC 1761), as described by Frontline
 * ("BT Snoop File Format") and BlueZ (doc/btsnoop.rst, monitor/btsnoop.h); Wireshark reads it
 * (wiretap/btsnoop.c). Everything is big-endian:
 *   header: "btsnoop\0", version (u32, 1), datalink type (u32)
 *   record: original length, included length, flags, cumulative drops (u32 each),
 *           timestamp (i64, microseconds since midnight 1 January of year 0 AD), included bytes
 */
export const BTSNOOP_MAGIC = Uint8Array.from([0x62, 0x74, 0x73, 0x6e, 0x6f, 0x6f, 0x70, 0x00]);

/** datalink types */
export const DATALINK = {
  /** un-encapsulated HCI (H1): flags bit 1 tells commands/events from data */
  H1: 1001,
  /** HCI UART (H4): each packet starts with its H4 type byte (Android's logs) */
  H4: 1002,
  /** BlueZ monitor (`btmon -w`): flags = adapter index << 16 | monitor opcode */
  MONITOR: 2001,
} as const;

/** microseconds between 0000-01-01T00:00Z and the Unix epoch (the btsnoop time origin) */
const EPOCH_DELTA_US = 0x00dcddb30f2f8000n;

/** An HCI packet as the importer needs it, whatever the datalink. */
export interface HciPacket {
  kind: 'command' | 'event' | 'acl' | 'other';
  /** true: host to controller (sent), false: controller to host (received) */
  sent: boolean;
  /** adapter index (monitor datalink), else 0 */
  index: number;
  /** Unix time, microseconds */
  timeUs: bigint;
  /** the HCI packet without any H4 type byte */
  data: Uint8Array;
}

export class BtsnoopError extends Error {
  constructor(
    readonly code: 'BTSNOOP_NOT_BTSNOOP' | 'BTSNOOP_VERSION' | 'BTSNOOP_DATALINK' | 'BTSNOOP_TRUNCATED',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'BtsnoopError';
  }
}

export interface BtsnoopFile {
  datalink: number;
  packets: HciPacket[];
  /** records whose included length was shorter than the original (snap length): skipped */
  truncated: number;
}

/** H4 packet indicators (Core Vol 4 Part A 2) */
const H4_KIND: Record<number, HciPacket['kind']> = { 0x01: 'command', 0x02: 'acl', 0x04: 'event' };
/** BlueZ monitor opcodes (doc/btsnoop.rst): command, event, ACL TX, ACL RX */
const MONITOR_KIND: Record<number, [HciPacket['kind'], boolean]> = {
  2: ['command', true],
  3: ['event', false],
  4: ['acl', true],
  5: ['acl', false],
};

export function parseBtsnoop(bytes: Uint8Array): BtsnoopFile {
  if (bytes.length < 16 || !BTSNOOP_MAGIC.every((b, i) => bytes[i] === b))
    throw new BtsnoopError('BTSNOOP_NOT_BTSNOOP', 'the file does not start with "btsnoop\\0"');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8);
  if (version !== 1) throw new BtsnoopError('BTSNOOP_VERSION', `version ${version}, only 1 is known`);
  const datalink = view.getUint32(12);
  if (datalink !== DATALINK.H1 && datalink !== DATALINK.H4 && datalink !== DATALINK.MONITOR)
    throw new BtsnoopError('BTSNOOP_DATALINK', `datalink ${datalink}: only 1001 (H1), 1002 (H4), 2001 (monitor)`);
  const packets: HciPacket[] = [];
  let truncated = 0;
  let at = 16;
  while (at < bytes.length) {
    // a capture cut short (btmon killed) ends with a partial record: keep what came before it
    if (at + 24 > bytes.length) break;
    const original = view.getUint32(at);
    const included = view.getUint32(at + 4);
    const flags = view.getUint32(at + 8);
    const timeUs = view.getBigInt64(at + 16) - EPOCH_DELTA_US;
    const start = at + 24;
    if (start + included > bytes.length) break;
    const data = bytes.subarray(start, start + included);
    at = start + included;
    if (included < original) {
      truncated++;
      continue;
    }
    const p = packetOf(datalink, flags, timeUs, data);
    if (p) packets.push(p);
  }
  return { datalink, packets, truncated };
}

function packetOf(datalink: number, flags: number, timeUs: bigint, data: Uint8Array): HciPacket | undefined {
  if (datalink === DATALINK.MONITOR) {
    const m = MONITOR_KIND[flags & 0xffff];
    if (!m) return undefined;
    return { kind: m[0], sent: m[1], index: flags >>> 16, timeUs, data };
  }
  // flags bit 0: 0 sent, 1 received; bit 1 (H1): 1 command/event, 0 data
  const sent = (flags & 1) === 0;
  if (datalink === DATALINK.H4) {
    const kind = H4_KIND[data[0] ?? 0] ?? 'other';
    return { kind, sent, index: 0, timeUs, data: data.subarray(1) };
  }
  const kind = flags & 2 ? (sent ? 'command' : 'event') : 'acl';
  return { kind, sent, index: 0, timeUs, data };
}

/** Writes a btsnoop file (tests and tools that build captures byte by byte). */
export function writeBtsnoop(
  datalink: number,
  records: readonly { flags: number; timeUs: bigint; data: Uint8Array }[],
): Uint8Array {
  const size = 16 + records.reduce((n, r) => n + 24 + r.data.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(BTSNOOP_MAGIC, 0);
  view.setUint32(8, 1);
  view.setUint32(12, datalink);
  let at = 16;
  for (const r of records) {
    view.setUint32(at, r.data.length);
    view.setUint32(at + 4, r.data.length);
    view.setUint32(at + 8, r.flags);
    view.setUint32(at + 12, 0);
    view.setBigInt64(at + 16, r.timeUs + EPOCH_DELTA_US);
    out.set(r.data, at + 24);
    at += 24 + r.data.length;
  }
  return out;
}
