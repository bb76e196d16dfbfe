import type { DecodeResult, Driver } from '../sdk/definition';
import { ByteReader } from '../codecs/byte-reader';
import { readDateTime } from '../codecs/date-time';
import { readSfloat } from '../codecs/ieee11073';
import { KPA_TO_MMHG, ResultBuilder, bitNames } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';
import { decodeWithQuirks } from '../common/quirk-registry';

/** GSS 3.31 Blood Pressure Measurement, Flags field. */
const FLAG_UNITS_KPA = 0x01;
const FLAG_TIME_STAMP = 0x02;
const FLAG_PULSE_RATE = 0x04;
const FLAG_USER_ID = 0x08;
const FLAG_MEASUREMENT_STATUS = 0x10;

/** GSS 3.31.2.7 Measurement Status bits (bits 3-4 are the pulse rate range, handled apart). */
const STATUS_BITS: Record<number, string> = {
  0: 'body_movement',
  1: 'cuff_too_loose',
  2: 'irregular_pulse',
  5: 'improper_position',
};

/**
 * Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36) share one layout
 * (GSS 3.31 / 3.125): flags, systolic, diastolic, MAP as SFLOAT, then optional time stamp,
 * pulse rate, user id and measurement status. In 0x2A36 the "systolic" field is the current cuff
 * pressure and diastolic/MAP are NaN.
 */
export function decodeBloodPressure(bytes: Uint8Array, intermediate = false): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const kpa = (flags & FLAG_UNITS_KPA) !== 0;
  const convert = kpa ? KPA_TO_MMHG : undefined;
  const systolic = readSfloat(r, 'Systolic');
  const diastolic = readSfloat(r, 'Diastolic');
  const map = readSfloat(r, 'Mean Arterial Pressure');
  if (flags & FLAG_TIME_STAMP) {
    const t = readDateTime(r);
    if (t.ok) b.common.deviceTime = t.deviceTime;
    else b.reject({ field: 'time_stamp', code: 'UNKNOWN_TIME', reason: t.reason });
  }
  const pulse = flags & FLAG_PULSE_RATE ? readSfloat(r, 'Pulse Rate') : undefined;
  if (flags & FLAG_USER_ID) {
    const user = r.u8('User ID');
    if (user !== 0xff) b.common.userIndex = user; // 0xFF = unknown user (GSS 3.31.2.6)
  }
  const measurementFlags: string[] = [];
  if (flags & FLAG_MEASUREMENT_STATUS) {
    const status = r.u16('Measurement Status');
    measurementFlags.push(...bitNames(status, STATUS_BITS));
    const pulseRange = (status >> 3) & 0x03;
    if (pulseRange === 1) measurementFlags.push('pulse_above_range');
    if (pulseRange === 2) measurementFlags.push('pulse_below_range');
  }
  if (intermediate) measurementFlags.push('intermediate');
  b.common.flags = measurementFlags;

  b.medfloat(
    'blood_pressure_systolic',
    intermediate ? 'Current Cuff Pressure' : 'Systolic',
    systolic,
    'mm[Hg]',
    convert,
  );
  if (!intermediate) {
    b.medfloat('blood_pressure_diastolic', 'Diastolic', diastolic, 'mm[Hg]', convert);
    b.medfloat('blood_pressure_mean', 'Mean Arterial Pressure', map, 'mm[Hg]', convert);
  }
  if (pulse) b.medfloat('heart_rate', 'Pulse Rate', pulse, '/min');
  return b.build();
}

/** GSS 3.30 Blood Pressure Feature 0x2A49: uint16 of supported detections. */
const FEATURE_BITS: Record<number, string> = {
  0: 'body_movement_detection',
  1: 'cuff_fit_detection',
  2: 'irregular_pulse_detection',
  3: 'pulse_rate_range_detection',
  4: 'measurement_position_detection',
  5: 'multiple_bond',
  6: 'e2e_crc',
  7: 'user_data_service',
  8: 'user_facing_time',
};

export function decodeBloodPressureFeature(bytes: Uint8Array): DecodeResult {
  const b = new ResultBuilder();
  b.addInfo('bloodPressureFeature', bitNames(new ByteReader(bytes).u16('Blood Pressure Feature'), FEATURE_BITS));
  return b.build();
}

/** Bluetooth SIG Blood Pressure Service 0x1810 (BLS 1.1): any conformant cuff. */
export const bloodPressureDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-blood-pressure',
      vendor: 'Bluetooth SIG',
      models: ['Blood Pressure Service 0x1810'],
      description: 'Standard Blood Pressure Profile cuff: measurements by indication, stored records sent on connect',
      match: { serviceUuids: ['1810'] },
      linkMode: 'connect',
      capabilities: { timeSync: false, storedRecords: true, multiUser: true, battery: false },
      metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic', 'blood_pressure_mean', 'heart_rate'],
      characteristics: [
        { service: '1810', characteristic: '2a35', access: 'indicate' },
        { service: '1810', characteristic: '2a36', access: 'notify', required: false },
        { service: '1810', characteristic: '2a49', access: 'read', required: false },
      ],
    },
    decoders: {
      // a cuff known to the quirk registry (by advertised name or DIS model) is read with its quirks
      '2a35': (bytes, ctx) => decodeWithQuirks('2a35', bytes, ctx, (b) => decodeBloodPressure(b)),
      '2a36': (bytes, ctx) => decodeWithQuirks('2a36', bytes, ctx, (b) => decodeBloodPressure(b, true)),
      '2a49': decodeBloodPressureFeature,
    },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
