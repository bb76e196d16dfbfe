/**
 * Omron "BLESmart" blood pressure monitors (HEM-xxxxT) with the vendor service: the EEPROM
 * transfer protocol, as documented publicly by omblepy (github.com/userx14/omblepy, commit 708c13e:
 * README "Documentation", omblepy.py, sharedDriver.py, deviceSpecific/*.py) and used by UBPM
 * (codeberg.org/LazyT/ubpm). Advertising facts from StanfordSpezi/SpeziDevices
 * (Sources/SpeziOmron/Model/OmronLocalName.swift, OmronManufacturerData.swift).
 *
 * - Vendor service ecbe3980-…; commands are written to up to four TX characteristics, 16 octets
 *   each; replies come back on four RX characteristics the same way (channel 0 first: its first
 *   octet is the frame length, which says how many channels the frame spans).
 * - Frame: [length][type hi][type lo][address hi][address lo][data length][data…][0x00][xor],
 *   the last octet making the XOR of the whole frame 0.
 *   Types: 0x0000 start (reply 0x8000), 0x0100 EEPROM read (0x8100), 0x01C0 EEPROM write
 *   (0x81C0), 0x0F00 end (0x8F00, first data octet an error status).
 * - Unlock characteristic b305b680-…: 0x02 + 16 zero octets enters key programming (reply
 *   0x82 0x00, only in pairing mode "-P-"), then 0x00 + 16-octet key programs it (0x80 0x00);
 *   every later session unlocks with 0x01 + key (0x81 0x00).
 * - Records live in per-user ring buffers; a settings block holds, per user, the slot written
 *   next and the number of records not yet sent (0x8000 once acknowledged).
 */

export const OMRON_SERVICE = 'ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b';
export const OMRON_UNLOCK = 'b305b680-aee7-11e1-a730-0002a5d5c51b';
export const OMRON_TX = [
  'db5b55e0-aee7-11e1-965e-0002a5d5c51b',
  'e0b8a060-aee7-11e1-92f4-0002a5d5c51b',
  '0ae12b00-aee8-11e1-a192-0002a5d5c51b',
  '10e1ba60-aee8-11e1-89e5-0002a5d5c51b',
] as const;
export const OMRON_RX = [
  '49123040-aee8-11e1-a74d-0002a5d5c51b',
  '4d0bf320-aee8-11e1-a0d9-0002a5d5c51b',
  '5128ce60-aee8-11e1-b84b-0002a5d5c51b',
  '560f1420-aee8-11e1-8184-0002a5d5c51b',
] as const;
/** Bluetooth SIG company identifier of OMRON HEALTHCARE Co., Ltd. */
export const OMRON_COMPANY_ID = 0x020e;
/** local name "BLESmart_<8 hex model><12 hex address>"; "BLEsmart_" (lower-case s) while in pairing mode */
export const OMRON_NAME_PATTERN = '^BLE[Ss]mart_[0-9A-Fa-f]{8}';

export const FRAME = {
  start: 0x0000,
  read: 0x0100,
  write: 0x01c0,
  end: 0x0f00,
  startReply: 0x8000,
  readReply: 0x8100,
  writeReply: 0x81c0,
  endReply: 0x8f00,
} as const;

export const UNLOCK = {
  enterProgramming: 0x02,
  program: 0x00,
  unlock: 0x01,
  enterProgrammingOk: 0x82,
  programOk: 0x80,
  unlockOk: 0x81,
} as const;

export interface OmronFrame {
  type: number;
  address: number;
  data: Uint8Array;
}

const xor = (bytes: Iterable<number>) => {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
};

/** a command frame: header, data, padding octet and the XOR checksum */
export function encodeFrame(type: number, address: number, data: Uint8Array | number = new Uint8Array()): Uint8Array {
  // a read names its length in the data-length octet and carries no data
  const payload = typeof data === 'number' ? new Uint8Array() : data;
  const dataLength = typeof data === 'number' ? data : data.length;
  const body = [
    8 + payload.length,
    type >> 8,
    type & 0xff,
    (address >> 8) & 0xff,
    address & 0xff,
    dataLength,
    ...payload,
    0,
  ];
  return Uint8Array.from([...body, xor(body)]);
}

export const startFrame = () => encodeFrame(FRAME.start, 0x0000, 0x10);
export const endFrame = () => encodeFrame(FRAME.end, 0x0000, 0);
export const readFrame = (address: number, length: number) => encodeFrame(FRAME.read, address, length);
export const writeFrame = (address: number, data: Uint8Array) => encodeFrame(FRAME.write, address, data);

/** the 16-octet pieces of a frame, in channel order */
export function splitChannels(frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < frame.length; at += 16) out.push(frame.subarray(at, at + 16));
  return out;
}

export class OmronFrameError extends Error {
  constructor(
    readonly code: 'OMRON_CHECKSUM' | 'OMRON_FRAME',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'OmronFrameError';
  }
}

/** parses one whole frame (channels already joined and cut to its length) */
export function decodeFrame(frame: Uint8Array): OmronFrame {
  if (frame.length < 8 || frame[0] !== frame.length)
    throw new OmronFrameError('OMRON_FRAME', `frame of ${frame.length} octets announces ${frame[0] ?? 0}`);
  if (xor(frame) !== 0) throw new OmronFrameError('OMRON_CHECKSUM', 'XOR of the frame is not 0');
  const type = ((frame[1] ?? 0) << 8) | (frame[2] ?? 0);
  const address = ((frame[3] ?? 0) << 8) | (frame[4] ?? 0);
  const declared = frame[5] ?? 0;
  // the end reply carries its status in the data-length octet's place plus one (omblepy: data[6:7])
  const data =
    type === FRAME.endReply ? frame.subarray(6, 7) : frame.subarray(6, Math.min(6 + declared, frame.length - 2));
  return { type, address, data: Uint8Array.from(data) };
}

/**
 * Joins the channels of one reply. Channel 0 comes first and its first octet gives the frame
 * length; the frame is complete once every channel it spans has arrived.
 */
export class FrameAssembler {
  private parts: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];

  reset(): void {
    this.parts = [undefined, undefined, undefined, undefined];
  }

  /** a value of RX channel `channel`; the whole frame once complete */
  push(channel: number, value: Uint8Array): Uint8Array | undefined {
    this.parts[channel] = Uint8Array.from(value);
    return this.complete();
  }

  /** the frame when every channel it spans is here (then forgotten), else undefined */
  complete(): Uint8Array | undefined {
    const first = this.parts[0];
    if (!first?.length) return undefined;
    const length = first[0] ?? 0;
    const channels = Math.max(1, Math.ceil(length / 16));
    const pieces = this.parts.slice(0, channels);
    if (pieces.some((p) => p === undefined)) return undefined;
    const joined = Uint8Array.from(pieces.flatMap((p) => [...(p ?? [])])).subarray(0, length);
    this.reset();
    return joined;
  }

  /** channels the frame in progress still needs (empty while channel 0 is missing) */
  missing(): number[] {
    const first = this.parts[0];
    if (!first?.length) return [];
    const channels = Math.max(1, Math.ceil((first[0] ?? 0) / 16));
    return [...Array(channels).keys()].filter((c) => this.parts[c] === undefined);
  }
}

/** bit fields of a record, numbered from the most significant bit of the record read as one integer */
type BitField = readonly [first: number, last: number];

export interface RecordFormat {
  endian: 'big' | 'little';
  systolic: BitField;
  /** the stored systolic is the pressure minus this */
  systolicOffset: number;
  diastolic: BitField;
  pulse: BitField;
  year: BitField;
  month: BitField;
  day: BitField;
  hour: BitField;
  minute: BitField;
  second: BitField;
  movement: BitField;
  irregularHeartbeat: BitField;
}

/** one model's EEPROM map (omblepy deviceSpecific/<model>.py) */
export interface OmronModel {
  /** DIS Model Number prefixes (HEM-7361T-D answers as HEM-7361T) */
  models: readonly string[];
  userStart: readonly number[];
  recordsPerUser: number;
  recordSize: number;
  /** octets per EEPROM read (the most the model answers in one frame) */
  blockSize: number;
  settingsRead: number;
  settingsWrite: number;
  /** [from, to) of the settings block holding ring positions and unread counters */
  unreadBytes: readonly [number, number];
  record: RecordFormat;
}

/** HEM-7322T (M700 Intelli IT) and HEM-7600T (Evolv): big-endian 14-octet records */
const BIG_14: RecordFormat = {
  endian: 'big',
  diastolic: [0, 7],
  systolic: [8, 15],
  systolicOffset: 25,
  year: [16, 23],
  pulse: [24, 31],
  movement: [32, 32],
  irregularHeartbeat: [33, 33],
  month: [34, 37],
  day: [38, 42],
  hour: [43, 47],
  minute: [52, 57],
  second: [58, 63],
};

/** HEM-7361T (M500/M7 Intelli IT) and HEM-7155T (M400/M4): little-endian 16-octet records */
const LITTLE_16: RecordFormat = {
  endian: 'little',
  minute: [68, 73],
  second: [74, 79],
  movement: [80, 80],
  irregularHeartbeat: [81, 81],
  month: [82, 85],
  day: [86, 90],
  hour: [91, 95],
  year: [98, 103],
  pulse: [104, 111],
  diastolic: [112, 119],
  systolic: [120, 127],
  systolicOffset: 25,
};

/** models whose map and unread counters omblepy documents as tested */
export const OMRON_MODELS: readonly OmronModel[] = [
  {
    models: ['HEM-7322T'],
    userStart: [0x02ac, 0x0824],
    recordsPerUser: 100,
    recordSize: 0x0e,
    blockSize: 0x38,
    settingsRead: 0x0260,
    settingsWrite: 0x0286,
    unreadBytes: [0x00, 0x08],
    record: BIG_14,
  },
  {
    models: ['HEM-7600T'],
    userStart: [0x02ac],
    recordsPerUser: 100,
    recordSize: 0x0e,
    blockSize: 0x38,
    settingsRead: 0x0260,
    settingsWrite: 0x0286,
    unreadBytes: [0x00, 0x08],
    record: BIG_14,
  },
  {
    models: ['HEM-7361T'],
    userStart: [0x0098, 0x06d8],
    recordsPerUser: 100,
    recordSize: 0x10,
    blockSize: 0x10,
    settingsRead: 0x0010,
    settingsWrite: 0x0054,
    unreadBytes: [0x00, 0x10],
    record: LITTLE_16,
  },
  {
    models: ['HEM-7155T'],
    userStart: [0x0098, 0x0458],
    recordsPerUser: 60,
    recordSize: 0x10,
    blockSize: 0x10,
    settingsRead: 0x0010,
    settingsWrite: 0x0054,
    unreadBytes: [0x00, 0x10],
    record: LITTLE_16,
  },
];

/** the EEPROM map of a DIS Model Number, if documented */
export function omronModel(modelNumber: string | undefined): OmronModel | undefined {
  const m = modelNumber?.trim().toUpperCase();
  if (!m) return undefined;
  return OMRON_MODELS.find((x) => x.models.some((prefix) => m.startsWith(prefix)));
}

function recordInteger(bytes: Uint8Array, endian: 'big' | 'little'): bigint {
  let v = 0n;
  const ordered = endian === 'big' ? [...bytes] : [...bytes].reverse();
  for (const b of ordered) v = (v << 8n) | BigInt(b);
  return v;
}

function bits(v: bigint, totalBits: number, [first, last]: BitField): number {
  const shift = BigInt(totalBits - (last + 1));
  const mask = (1n << BigInt(last - first + 1)) - 1n;
  return Number((v >> shift) & mask);
}

export interface OmronRecord {
  systolic: number;
  diastolic: number;
  pulse: number;
  /** local time as the device keeps it, YYYY-MM-DDTHH:MM:SS */
  deviceTime: string;
  movement: boolean;
  irregularHeartbeat: boolean;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * One stored record, or undefined for an empty slot (all 0xFF) or one whose date is not a date
 * (a half-written slot). Seconds above 59 occur (omblepy) and are clamped.
 */
export function decodeRecord(bytes: Uint8Array, f: RecordFormat): OmronRecord | undefined {
  if (bytes.every((b) => b === 0xff)) return undefined;
  const v = recordInteger(bytes, f.endian);
  const total = bytes.length * 8;
  const get = (field: BitField) => bits(v, total, field);
  const year = 2000 + get(f.year);
  const month = get(f.month);
  const day = get(f.day);
  const hour = get(f.hour);
  const minute = get(f.minute);
  const second = Math.min(59, get(f.second));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return undefined;
  return {
    systolic: get(f.systolic) + f.systolicOffset,
    diastolic: get(f.diastolic),
    pulse: get(f.pulse),
    deviceTime: `${year}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}`,
    movement: get(f.movement) === 1,
    irregularHeartbeat: get(f.irregularHeartbeat) === 1,
  };
}

/** the inverse of decodeRecord, for the virtual device and tests */
export function encodeRecord(r: OmronRecord, f: RecordFormat, size: number): Uint8Array {
  const total = size * 8;
  let v = 0n;
  const put = ([first, last]: BitField, value: number) => {
    const shift = BigInt(total - (last + 1));
    const mask = ((1n << BigInt(last - first + 1)) - 1n) << shift;
    v = (v & ~mask) | ((BigInt(value) << shift) & mask);
  };
  const [date = '', time = ''] = r.deviceTime.split('T');
  const [y = 0, mo = 0, d = 0] = date.split('-').map(Number);
  const [h = 0, mi = 0, s = 0] = time.split(':').map(Number);
  put(f.systolic, r.systolic - f.systolicOffset);
  put(f.diastolic, r.diastolic);
  put(f.pulse, r.pulse);
  put(f.year, y - 2000);
  put(f.month, mo);
  put(f.day, d);
  put(f.hour, h);
  put(f.minute, mi);
  put(f.second, s);
  put(f.movement, r.movement ? 1 : 0);
  put(f.irregularHeartbeat, r.irregularHeartbeat ? 1 : 0);
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return f.endian === 'big' ? out : out.reverse();
}

const u16 = (b: Uint8Array, at: number, endian: 'big' | 'little') =>
  endian === 'big' ? ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0) : ((b[at + 1] ?? 0) << 8) | (b[at] ?? 0);

/**
 * Per user of the unread-records block: the slot written next and how many records the device
 * has not yet sent (the low octet of each 16-bit word; 0x8000 = acknowledged, none unread).
 */
export function decodeUnread(block: Uint8Array, users: number, endian: 'big' | 'little') {
  return [...Array(users).keys()].map((u) => ({
    nextSlot: u16(block, 2 * u, endian) & 0xff,
    unread: u16(block, 4 + 2 * u, endian) & 0xff,
  }));
}

/** the block with every user's unread counter set to 0x8000 ("already sent"), ring positions kept */
export function acknowledgeUnread(block: Uint8Array, endian: 'big' | 'little'): Uint8Array {
  const out = Uint8Array.from(block);
  const word = endian === 'big' ? [0x80, 0x00] : [0x00, 0x80];
  for (const at of [4, 6]) {
    out[at] = word[0] ?? 0;
    out[at + 1] = word[1] ?? 0;
  }
  return out;
}

/** [address, length] reads covering a user's `count` newest records before `nextSlot` in its ring */
export function ringReads(model: OmronModel, user: number, count: number, nextSlot: number): [number, number][] {
  const start = model.userStart[user] ?? 0;
  const size = model.recordSize;
  const n = Math.min(count, model.recordsPerUser);
  if (n <= 0) return [];
  if (nextSlot >= n) return [[start + (nextSlot - n) * size, n * size]];
  // wrapped: the oldest part at the end of the ring, the newest at its start
  const reads: [number, number][] = [[start + (model.recordsPerUser - (n - nextSlot)) * size, (n - nextSlot) * size]];
  if (nextSlot > 0) reads.push([start, nextSlot * size]);
  return reads;
}
