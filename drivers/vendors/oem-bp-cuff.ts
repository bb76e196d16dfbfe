import { decodeBloodPressure } from '../standard/blood-pressure';
import { defineDriver } from '../sdk/compose';
import type { DecodeContext, DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { deviceInformation } from '../common/device-information';

/**
 * Budget OEM cuffs that implement the Blood Pressure Service loosely (field notes: "byte order of
 * single fields, MAP sent as 0 instead of NaN, a user-ID byte present while its flag is clear").
 * Each deviation is a named quirk declared in the definition; the standard decoder stays strict.
 */
export const BP_QUIRKS = {
  /** MAP field 0x0000 means "not measured": drop it with a QUIRK reason instead of an IMPLAUSIBLE 0. */
  map_zero_means_absent: 'map_zero_means_absent',
  /** Pulse Rate SFLOAT sent big-endian: swap its two bytes before decoding. */
  pulse_rate_big_endian: 'pulse_rate_big_endian',
  /** One byte more than the flags require and User ID flag clear: it is a User ID, set the flag. */
  user_id_without_flag: 'user_id_without_flag',
} as const;

/** GSS 3.31 field offsets: flags(1) + 3 SFLOAT(6), [time stamp 7], [pulse 2], [user 1], [status 2]. */
function expectedLength(flags: number): number {
  return 7 + (flags & 0x02 ? 7 : 0) + (flags & 0x04 ? 2 : 0) + (flags & 0x08 ? 1 : 0) + (flags & 0x10 ? 2 : 0);
}

function fixBytes(bytes: Uint8Array, quirks: readonly string[]): Uint8Array {
  if (bytes.length === 0) return bytes;
  let out = Uint8Array.from(bytes);
  const flags = out[0] ?? 0;
  if (quirks.includes(BP_QUIRKS.user_id_without_flag) && !(flags & 0x08) && out.length === expectedLength(flags) + 1) {
    // the stray byte sits where a User ID would: after time stamp and pulse, before status
    out[0] = flags | 0x08;
  }
  if (quirks.includes(BP_QUIRKS.pulse_rate_big_endian) && flags & 0x04) {
    const at = 7 + (flags & 0x02 ? 7 : 0);
    if (out.length >= at + 2) {
      out = Uint8Array.from(out);
      const hi = out[at] ?? 0;
      out[at] = out[at + 1] ?? 0;
      out[at + 1] = hi;
    }
  }
  return out;
}

function mapZeroIsAbsent(bytes: Uint8Array, result: DecodeResult): DecodeResult {
  if (bytes.length < 7 || bytes[5] !== 0 || bytes[6] !== 0) return result;
  return {
    ...result,
    measurements: result.measurements.filter((m) => m.metric !== 'blood_pressure_mean'),
    rejected: [
      ...result.rejected,
      {
        metric: 'blood_pressure_mean',
        field: 'Mean Arterial Pressure',
        code: 'QUIRK',
        reason: 'cuff sends MAP 0 when it did not compute it (quirk map_zero_means_absent)',
        raw: 0,
      },
    ],
  };
}

export function decodeOemBloodPressure(bytes: Uint8Array, ctx: DecodeContext, intermediate = false): DecodeResult {
  const fixed = fixBytes(bytes, ctx.quirks);
  const result = decodeBloodPressure(fixed, intermediate);
  return !intermediate && ctx.quirks.includes(BP_QUIRKS.map_zero_means_absent)
    ? mapZeroIsAbsent(fixed, result)
    : result;
}

function oemCuff(id: string, namePattern: string, models: string[], quirks: string[]): Driver {
  return defineDriver(
    {
      definition: {
        id,
        vendor: 'Generic OEM',
        models,
        description: `Blood Pressure Service cuff with known deviations: ${quirks.join(', ')}`,
        match: { serviceUuids: ['1810'], namePattern },
        priority: 10,
        linkMode: 'connect',
        capabilities: { storedRecords: true, multiUser: true },
        metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic', 'blood_pressure_mean', 'heart_rate'],
        characteristics: [
          { service: '1810', characteristic: '2a35', access: 'indicate' },
          { service: '1810', characteristic: '2a36', access: 'notify', required: false },
        ],
        quirks,
      },
      decoders: {
        '2a35': (bytes, ctx) => decodeOemBloodPressure(bytes, ctx),
        '2a36': (bytes, ctx) => decodeOemBloodPressure(bytes, ctx, true),
      },
    },
    battery(),
    deviceInformation(),
  );
}

/** Cuffs advertising as "BPM…": MAP as 0 and a User ID byte without its flag. */
export const oemBpmCuffDriver: Driver = oemCuff(
  'oem-bpm-cuff',
  '^BPM[-_ ]?[0-9]',
  ['OEM cuffs advertising "BPM-nnn"'],
  [BP_QUIRKS.map_zero_means_absent, BP_QUIRKS.user_id_without_flag],
);

/** Cuffs advertising as "BP-…": MAP as 0 and a big-endian Pulse Rate. */
export const oemBpBigEndianCuffDriver: Driver = oemCuff(
  'oem-bp-cuff-be',
  '^BP[-_ ][0-9]',
  ['OEM cuffs advertising "BP-nnn"'],
  [BP_QUIRKS.map_zero_means_absent, BP_QUIRKS.pulse_rate_big_endian],
);
