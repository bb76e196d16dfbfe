import { ByteReader } from '../codecs/byte-reader';
import { readDateTime } from '../codecs/date-time';
import { KG_PER_L_TO_MMOL_PER_L, MOL_PER_L_TO_MMOL_PER_L, ResultBuilder, bitNames, round } from '../codecs/fields';
import { readSfloat } from '../codecs/ieee11073';
import { defineDriver } from '../sdk/compose';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';
import { decodeRacp } from '../common/racp';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Adds the Time Offset (minutes) to the Base Time: the user-facing time (GLS 1.0 3.106.2.3). */
function addMinutes(local: string, minutes: number): string {
  const d = new Date(`${local}Z`);
  d.setUTCMinutes(d.getUTCMinutes() + minutes);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export const GLUCOSE_TYPES: Record<number, string> = {
  1: 'capillary_whole_blood',
  2: 'capillary_plasma',
  3: 'venous_whole_blood',
  4: 'venous_plasma',
  5: 'arterial_whole_blood',
  6: 'arterial_plasma',
  7: 'undetermined_whole_blood',
  8: 'undetermined_plasma',
  9: 'interstitial_fluid',
  10: 'control_solution',
};
export const SAMPLE_LOCATIONS: Record<number, string> = {
  1: 'finger',
  2: 'alternate_site',
  3: 'earlobe',
  4: 'control_solution',
  15: 'location_not_available',
};
/** GSS 3.106.2.6 Sensor Status Annunciation (uint16). */
const ANNUNCIATION: Record<number, string> = {
  0: 'battery_low',
  1: 'sensor_malfunction',
  2: 'sample_size_insufficient',
  3: 'strip_insertion_error',
  4: 'strip_type_incorrect',
  5: 'result_too_high',
  6: 'result_too_low',
  7: 'temperature_too_high',
  8: 'temperature_too_low',
  9: 'read_interrupted',
  10: 'general_device_fault',
  11: 'time_fault',
};
/** Annunciations under which the value is not a usable reading. */
const INVALIDATING = [
  'sensor_malfunction',
  'sample_size_insufficient',
  'strip_insertion_error',
  'strip_type_incorrect',
  'result_too_high',
  'result_too_low',
  'read_interrupted',
  'general_device_fault',
];

/**
 * GSS 3.106 Glucose Measurement 0x2A18: flags, sequence number, base time, [time offset sint16 min],
 * [concentration SFLOAT kg/L or mol/L + type/sample location nibbles], [sensor status annunciation].
 */
export function decodeGlucoseMeasurement(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  b.common.sequence = r.u16('Sequence Number');
  const base = readDateTime(r);
  const offset = flags & 0x01 ? r.i16('Time Offset') : 0;
  if (base.ok) b.common.deviceTime = offset ? addMinutes(base.deviceTime, offset) : base.deviceTime;
  else b.reject({ field: 'base_time', code: 'UNKNOWN_TIME', reason: base.reason });
  const concentration = flags & 0x02 ? readSfloat(r, 'Glucose Concentration') : undefined;
  const typeLocation = flags & 0x02 ? r.u8('Type-Sample Location') : undefined;
  const annunciations = flags & 0x08 ? bitNames(r.u16('Sensor Status Annunciation'), ANNUNCIATION) : [];
  const flagNames = [...annunciations];
  if (typeLocation !== undefined) {
    flagNames.push(
      GLUCOSE_TYPES[typeLocation & 0x0f] ?? 'type_reserved',
      SAMPLE_LOCATIONS[typeLocation >> 4] ?? 'location_reserved',
    );
  }
  if (flags & 0x10) flagNames.push('context_follows');
  b.common.flags = flagNames;
  if (concentration) {
    const convert = flags & 0x04 ? MOL_PER_L_TO_MMOL_PER_L : KG_PER_L_TO_MMOL_PER_L;
    const invalid = annunciations.find((a) => INVALIDATING.includes(a));
    const control = typeLocation !== undefined && ((typeLocation & 0x0f) === 10 || typeLocation >> 4 === 4);
    if (concentration.ok && (invalid || control)) {
      b.reject({
        metric: 'glucose',
        field: 'Glucose Concentration',
        code: 'DEVICE_FLAGGED',
        reason: control ? 'control solution test, not a patient reading' : `device reports ${invalid}`,
        raw: concentration.value,
      });
    } else {
      b.medfloat('glucose', 'Glucose Concentration', concentration, 'mmol/L', convert);
    }
  }
  return b.build();
}

const MEALS: Record<number, string> = { 1: 'preprandial', 2: 'postprandial', 3: 'fasting', 4: 'casual', 5: 'bedtime' };
const TESTERS: Record<number, string> = {
  1: 'self',
  2: 'health_care_professional',
  3: 'lab_test',
  15: 'not_available',
};
const HEALTH: Record<number, string> = {
  1: 'minor_health_issues',
  2: 'major_health_issues',
  3: 'during_menses',
  4: 'under_stress',
  5: 'no_health_issues',
  15: 'not_available',
};
const CARBS: Record<number, string> = {
  1: 'breakfast',
  2: 'lunch',
  3: 'dinner',
  4: 'snack',
  5: 'drink',
  6: 'supper',
  7: 'brunch',
};
const MEDICATIONS: Record<number, string> = {
  1: 'rapid_acting_insulin',
  2: 'short_acting_insulin',
  3: 'intermediate_acting_insulin',
  4: 'long_acting_insulin',
  5: 'pre_mixed_insulin',
};

/** GSS 3.107 Glucose Measurement Context 0x2A34: joined to the measurement by sequence number. */
export function decodeGlucoseContext(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const sequence = r.u16('Sequence Number');
  b.common.sequence = sequence;
  const ctx: Record<string, unknown> = { sequence };
  if (flags & 0x80) ctx.extendedFlags = r.u8('Extended Flags');
  if (flags & 0x01) {
    const id = r.u8('Carbohydrate ID');
    const carbs = readSfloat(r, 'Carbohydrate');
    ctx.carbohydrate = { meal: CARBS[id] ?? 'reserved', grams: carbs.ok ? round(carbs.value * 1000, 1) : null };
  }
  if (flags & 0x02) ctx.meal = MEALS[r.u8('Meal')] ?? 'reserved';
  if (flags & 0x04) {
    const th = r.u8('Tester-Health');
    ctx.tester = TESTERS[th & 0x0f] ?? 'reserved';
    ctx.health = HEALTH[th >> 4] ?? 'reserved';
  }
  if (flags & 0x08) {
    const duration = r.u16('Exercise Duration');
    ctx.exercise = {
      durationSeconds: duration === 0xffff ? null : duration,
      intensityPercent: r.u8('Exercise Intensity'),
    };
  }
  if (flags & 0x10) {
    const id = r.u8('Medication ID');
    const amount = readSfloat(r, 'Medication');
    const liters = (flags & 0x20) !== 0;
    ctx.medication = {
      type: MEDICATIONS[id] ?? 'reserved',
      amount: amount.ok ? round(amount.value * 1000, 3) : null,
      unit: liters ? 'mL' : 'g',
    };
  }
  if (flags & 0x40) b.medfloat('hba1c', 'HbA1c', readSfloat(r, 'HbA1c'), '%');
  b.addInfo('glucoseContext', ctx);
  return b.build();
}

/** GSS 3.105 Glucose Feature 0x2A51 (uint16). */
export function decodeGlucoseFeature(bytes: Uint8Array): DecodeResult {
  const b = new ResultBuilder();
  b.addInfo(
    'glucoseFeature',
    bitNames(new ByteReader(bytes).u16('Glucose Feature'), {
      0: 'low_battery_detection',
      1: 'sensor_malfunction_detection',
      2: 'sample_size',
      3: 'strip_insertion_error_detection',
      4: 'strip_type_error_detection',
      5: 'result_high_low_detection',
      6: 'temperature_high_low_detection',
      7: 'read_interrupt_detection',
      8: 'general_device_fault',
      9: 'time_fault',
      10: 'multiple_bond',
    }),
  );
  return b.build();
}

/** Bluetooth SIG Glucose Service 0x1808 (GLS 1.0): stored records fetched through RACP. */
export const glucoseDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-glucose',
      vendor: 'Bluetooth SIG',
      models: ['Glucose Service 0x1808'],
      description:
        'Standard Glucose Profile: measurement + context by notification, stored records requested through RACP by sequence number',
      match: { serviceUuids: ['1808'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true },
      metrics: ['glucose', 'hba1c'],
      characteristics: [
        { service: '1808', characteristic: '2a18', access: 'notify' },
        { service: '1808', characteristic: '2a34', access: 'notify', required: false },
        { service: '1808', characteristic: '2a52', access: 'indicate' },
        { service: '1808', characteristic: '2a51', access: 'read', required: false },
      ],
    },
    decoders: {
      '2a18': decodeGlucoseMeasurement,
      '2a34': decodeGlucoseContext,
      '2a52': decodeRacp,
      '2a51': decodeGlucoseFeature,
    },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
