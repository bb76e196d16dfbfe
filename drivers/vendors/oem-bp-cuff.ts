import { decodeBloodPressure } from '../standard/blood-pressure';
import { defineDriver } from '../sdk/compose';
import type { DecodeContext, DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { deviceInformation } from '../common/device-information';
import { QUIRKS, decodeWithQuirks, type QuirkId } from '../common/quirk-registry';

/**
 * Budget OEM cuffs that implement the Blood Pressure Service loosely: MAP sent as 0 instead of
 * NaN, the Pulse Rate big-endian, a User ID octet present while its flag is clear (the same
 * deviations the Beurer BM85 shows, drivers/common/quirk-registry.ts). Each deviation is a named
 * quirk of the registry declared in the definition; the standard decoder stays strict.
 */
export const BP_QUIRKS = {
  map_zero_means_absent: 'map_zero_means_absent',
  pulse_rate_big_endian: 'pulse_rate_big_endian',
  user_id_without_flag: 'user_id_without_flag',
} as const satisfies Record<string, QuirkId>;

export function decodeOemBloodPressure(bytes: Uint8Array, ctx: DecodeContext, intermediate = false): DecodeResult {
  return decodeWithQuirks(intermediate ? '2a36' : '2a35', bytes, ctx, (b) => decodeBloodPressure(b, intermediate));
}

function oemCuff(id: string, namePattern: string, models: string[], quirks: QuirkId[]): Driver {
  return defineDriver(
    {
      definition: {
        id,
        vendor: 'Generic OEM',
        models,
        description: `Blood Pressure Service cuff with known deviations: ${quirks.map((q) => QUIRKS[q].description).join('; ')}`,
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
