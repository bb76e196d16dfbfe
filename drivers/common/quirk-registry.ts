import type { MetricName } from '../../contract';
import type { DecodeContext, DecodeResult, DeviceIdentity, RejectedField } from '../sdk/definition';

/**
 * The quirk registry: how real devices deviate from a standard characteristic layout, as data.
 *
 * A standard decoder stays strict (the GATT Specification Supplement layout). Before it runs,
 * the quirks that apply to the device (declared by its driver, or matched here by its identity:
 * advertised name, DIS manufacturer and model) rewrite the packet back into the standard layout;
 * after it runs, value quirks drop what the device meant as "absent". Every quirk is one of a
 * few effect kinds interpreted below, never an if-statement in a decoder, and every device entry
 * cites where the deviation is documented. `*.vectors.json` hold a vector per entry.
 */

/** One field of a flag-driven characteristic layout (GSS: present when its flag bit is set). */
interface FieldSpec {
  name: string;
  size: number;
  /** flag bit that announces the field; absent: always present */
  flag?: number;
  /** the metric the standard decoder emits from it, and the field name it rejects it under */
  metric?: MetricName;
  label?: string;
}

interface Layout {
  fields: readonly FieldSpec[];
  /** named flag bits a quirk may clear (a device that sets a wrong unit flag) */
  flagBits: Readonly<Record<string, number>>;
}

/** GSS 3.31 Blood Pressure Measurement / 3.125 Intermediate Cuff Pressure */
const BLOOD_PRESSURE: Layout = {
  fields: [
    { name: 'systolic', size: 2, metric: 'blood_pressure_systolic', label: 'Systolic' },
    { name: 'diastolic', size: 2, metric: 'blood_pressure_diastolic', label: 'Diastolic' },
    { name: 'mean_arterial_pressure', size: 2, metric: 'blood_pressure_mean', label: 'Mean Arterial Pressure' },
    { name: 'time_stamp', size: 7, flag: 0x02 },
    { name: 'pulse_rate', size: 2, flag: 0x04, metric: 'heart_rate', label: 'Pulse Rate' },
    { name: 'user_id', size: 1, flag: 0x08 },
    { name: 'measurement_status', size: 2, flag: 0x10 },
  ],
  flagBits: { units_kpa: 0x01 },
};

/** GSS 3.245 Weight Measurement */
const WEIGHT: Layout = {
  fields: [
    { name: 'weight', size: 2, metric: 'body_weight', label: 'Weight' },
    { name: 'time_stamp', size: 7, flag: 0x02 },
    { name: 'user_id', size: 1, flag: 0x04 },
    { name: 'bmi', size: 2, flag: 0x08 },
    { name: 'height', size: 2, flag: 0x08 },
  ],
  flagBits: { units_imperial: 0x01 },
};

const LAYOUTS: Readonly<Record<string, Layout>> = { '2a35': BLOOD_PRESSURE, '2a36': BLOOD_PRESSURE, '2a9d': WEIGHT };

/** What a quirk does. Byte effects are length-checked: a packet that does not show the deviation is left alone. */
export type QuirkEffect =
  /** `length` bytes the specification does not have follow `after` (a day-of-week after the Date Time): dropped when the packet is exactly that much longer than its flags say */
  | { kind: 'extra_bytes'; after: string; length: number }
  /** the field is sent while its flag is clear: flagged when the packet is exactly the field's size longer than its flags say */
  | { kind: 'field_without_flag'; field: string }
  /** a multi-octet field sent big-endian (GSS fields are little-endian) */
  | { kind: 'big_endian'; field: string }
  /** a raw value the device sends for "not measured" instead of the IEEE-11073 NaN: the metric is dropped with code QUIRK */
  | { kind: 'raw_means_absent'; field: string; raw: number }
  /** a flag bit the device sets wrongly (a unit flag for values actually in the other unit): cleared */
  | { kind: 'clear_flag'; flag: string };

export interface QuirkDefinition {
  description: string;
  /** the characteristics (normalised 16-bit UUIDs) it applies to */
  characteristics: readonly string[];
  effect: QuirkEffect;
}

/**
 * Every known deviation by name. Drivers name them in `definition.quirks`; device entries below
 * too. A quirk enters this table with a device entry or driver that shows it and a vector from
 * its public documentation; the effect kinds above cover more (extra octets after a field, wrong
 * unit flags) for the next documented device.
 */
export const QUIRKS = {
  map_zero_means_absent: {
    description: 'MAP field 0x0000 means "not computed" (the specification wants NaN 0x07FF)',
    characteristics: ['2a35'],
    effect: { kind: 'raw_means_absent', field: 'mean_arterial_pressure', raw: 0 },
  },
  pulse_rate_big_endian: {
    description: 'Pulse Rate SFLOAT sent big-endian',
    characteristics: ['2a35', '2a36'],
    effect: { kind: 'big_endian', field: 'pulse_rate' },
  },
  measurement_status_big_endian: {
    description: 'Measurement Status sent big-endian (its flags land in the second octet)',
    characteristics: ['2a35', '2a36'],
    effect: { kind: 'big_endian', field: 'measurement_status' },
  },
  user_id_without_flag: {
    description: 'User ID octet sent while its flag (bit 3) is clear',
    characteristics: ['2a35', '2a36'],
    effect: { kind: 'field_without_flag', field: 'user_id' },
  },
} as const satisfies Record<string, QuirkDefinition>;

export type QuirkId = keyof typeof QUIRKS;

/** A device model known to deviate, matched by identity (case-insensitive regular expressions, all given must hold). */
export interface DeviceQuirkEntry {
  device: string;
  match: { localName?: string; manufacturer?: string; model?: string };
  quirks: readonly QuirkId[];
  /** where the deviation is documented (public capture, test, issue) */
  source: string;
}

/**
 * Devices whose deviations are documented publicly. A standard-profile driver applies these by
 * identity, so the device needs no driver of its own.
 */
export const DEVICE_QUIRKS: readonly DeviceQuirkEntry[] = [
  {
    device: 'Beurer BM85',
    // the official Beurer app and blood-pressure-monitor-fl recognise it by its advertised name
    match: { localName: 'BM[ _-]?85' },
    quirks: ['map_zero_means_absent', 'pulse_rate_big_endian', 'measurement_status_big_endian', 'user_id_without_flag'],
    source:
      'github.com/derdilla/blood-pressure-monitor-fl PR #735 and #737 (commit 17aba3d), app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart: packets recorded from a Beurer BM85',
  },
];

function matches(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined) return true;
  return value !== undefined && new RegExp(pattern, 'i').test(value);
}

/** the device entries that match an identity */
export function deviceQuirksFor(identity: Readonly<DeviceIdentity>): DeviceQuirkEntry[] {
  return DEVICE_QUIRKS.filter(
    (e) =>
      (e.match.localName ?? e.match.manufacturer ?? e.match.model) !== undefined &&
      matches(e.match.localName, identity.localName) &&
      matches(e.match.manufacturer, identity.manufacturer) &&
      matches(e.match.model, identity.model),
  );
}

/** quirk ids that apply to a packet of `characteristic`: the driver's declared ones and the device's */
export function quirksFor(characteristic: string, ctx: DecodeContext): QuirkId[] {
  const ids = new Set<string>(ctx.quirks);
  for (const e of deviceQuirksFor(ctx.identity)) for (const q of e.quirks) ids.add(q);
  return [...ids].filter(
    (id): id is QuirkId =>
      Object.hasOwn(QUIRKS, id) &&
      (QUIRKS[id as QuirkId].characteristics as readonly string[]).includes(characteristic),
  );
}

interface Span {
  field: FieldSpec;
  at: number;
}

/** where each present field sits, from the flags (GSS order) */
function spans(layout: Layout, flags: number): { spans: Span[]; length: number } {
  let at = 1;
  const out: Span[] = [];
  for (const f of layout.fields) {
    if (f.flag !== undefined && !(flags & f.flag)) continue;
    out.push({ field: f, at });
    at += f.size;
  }
  return { spans: out, length: at };
}

const fieldSpec = (layout: Layout, name: string) => layout.fields.find((f) => f.name === name);

/** rewrites a packet into the standard layout; effects in a fixed order: length first, then flags, then byte order */
function fixBytes(layout: Layout, input: Uint8Array, effects: readonly QuirkEffect[]): Uint8Array {
  let bytes = Uint8Array.from(input);
  if (bytes.length === 0) return bytes;
  for (const e of effects) {
    if (e.kind !== 'extra_bytes') continue;
    const { spans: s, length } = spans(layout, bytes[0] ?? 0);
    const after = s.find((x) => x.field.name === e.after);
    if (!after || bytes.length !== length + e.length) continue;
    const cut = after.at + after.field.size;
    bytes = Uint8Array.from([...bytes.subarray(0, cut), ...bytes.subarray(cut + e.length)]);
  }
  for (const e of effects) {
    if (e.kind === 'clear_flag') bytes[0] = (bytes[0] ?? 0) & ~(layout.flagBits[e.flag] ?? 0);
    if (e.kind !== 'field_without_flag') continue;
    const f = fieldSpec(layout, e.field);
    const flags = bytes[0] ?? 0;
    if (f?.flag === undefined || flags & f.flag) continue;
    if (bytes.length === spans(layout, flags).length + f.size) bytes[0] = flags | f.flag;
  }
  for (const e of effects) {
    if (e.kind !== 'big_endian') continue;
    const span = spans(layout, bytes[0] ?? 0).spans.find((x) => x.field.name === e.field);
    if (!span || bytes.length < span.at + span.field.size) continue;
    bytes.subarray(span.at, span.at + span.field.size).reverse();
  }
  return bytes;
}

/** drops values the device meant as absent, with a QUIRK reason */
function fixResult(layout: Layout, bytes: Uint8Array, result: DecodeResult, effects: readonly QuirkEffect[]) {
  let out = result;
  for (const e of effects) {
    if (e.kind !== 'raw_means_absent') continue;
    const span = spans(layout, bytes[0] ?? 0).spans.find((x) => x.field.name === e.field);
    const f = span?.field;
    if (!span || !f?.metric || bytes.length < span.at + f.size) continue;
    let raw = 0;
    for (let i = f.size - 1; i >= 0; i--) raw = raw * 256 + (bytes[span.at + i] ?? 0);
    if (raw !== e.raw) continue;
    const metric = f.metric;
    const rejected: RejectedField = {
      metric,
      field: f.label ?? f.name,
      code: 'QUIRK',
      reason: `the device sends ${raw} when it has no value (quirk ${e.kind} ${e.field})`,
      raw,
    };
    out = {
      ...out,
      measurements: out.measurements.filter((m) => m.metric !== metric),
      rejected: [...out.rejected, rejected],
    };
  }
  return out;
}

/**
 * Decodes a standard characteristic with the quirks of the device applied around the strict
 * standard decoder. Without a quirk for it the packet goes to the decoder untouched.
 */
export function decodeWithQuirks(
  characteristic: string,
  bytes: Uint8Array,
  ctx: DecodeContext,
  decode: (bytes: Uint8Array) => DecodeResult,
): DecodeResult {
  const layout = LAYOUTS[characteristic];
  const ids = layout ? quirksFor(characteristic, ctx) : [];
  if (!layout || ids.length === 0) return decode(bytes);
  return applyQuirkEffects(
    characteristic,
    bytes,
    ids.map((id) => QUIRKS[id].effect),
    decode,
  );
}

/** the effect interpreter on its own (a driver with an undocumented-yet deviation, tests) */
export function applyQuirkEffects(
  characteristic: string,
  bytes: Uint8Array,
  effects: readonly QuirkEffect[],
  decode: (bytes: Uint8Array) => DecodeResult,
): DecodeResult {
  const layout = LAYOUTS[characteristic];
  if (!layout) return decode(bytes);
  const fixed = fixBytes(layout, bytes, effects);
  return fixResult(layout, fixed, decode(fixed), effects);
}
