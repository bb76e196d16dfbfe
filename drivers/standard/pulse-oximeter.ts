import { ByteReader } from '../codecs/byte-reader';
import { readDateTime } from '../codecs/date-time';
import { ResultBuilder, bitNames } from '../codecs/fields';
import { readSfloat, type MedFloat } from '../codecs/ieee11073';
import { defineDriver } from '../sdk/compose';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';

/** GSS 3.162 PLX Measurement Status (uint16); bits 0-4 reserved. */
const MEASUREMENT_STATUS: Record<number, string> = {
  5: 'measurement_ongoing',
  6: 'early_estimated_data',
  7: 'validated_data',
  8: 'fully_qualified_data',
  9: 'data_from_storage',
  10: 'data_for_demonstration',
  11: 'data_for_testing',
  12: 'calibration_ongoing',
  13: 'measurement_unavailable',
  14: 'questionable_measurement',
  15: 'invalid_measurement',
};
/** GSS 3.162 PLX Device and Sensor Status (uint24). */
const SENSOR_STATUS: Record<number, string> = {
  0: 'extended_display_update_ongoing',
  1: 'equipment_malfunction',
  2: 'signal_processing_irregularity',
  3: 'inadequate_signal',
  4: 'poor_signal',
  5: 'low_perfusion',
  6: 'erratic_signal',
  7: 'nonpulsatile_signal',
  8: 'questionable_pulse',
  9: 'signal_analysis_ongoing',
  10: 'sensor_interference',
  11: 'sensor_unconnected',
  12: 'unknown_sensor',
  13: 'sensor_displaced',
  14: 'sensor_malfunctioning',
  15: 'sensor_disconnected',
};
/** Statuses under which the device itself says SpO2/PR are not valid readings. */
const INVALIDATING = [
  'measurement_unavailable',
  'invalid_measurement',
  'data_for_demonstration',
  'data_for_testing',
  'sensor_unconnected',
  'sensor_disconnected',
  'equipment_malfunction',
];

function readStatuses(r: ByteReader, flags: number, statusBit: number, sensorBit: number): string[] {
  const names: string[] = [];
  if (flags & statusBit) names.push(...bitNames(r.u16('Measurement Status'), MEASUREMENT_STATUS));
  if (flags & sensorBit) names.push(...bitNames(r.u24('Device and Sensor Status'), SENSOR_STATUS));
  return names;
}

function emitPair(
  b: ResultBuilder,
  spo2: MedFloat,
  pr: MedFloat,
  label: string,
  statuses: string[],
  extra?: string,
): void {
  const invalid = statuses.find((s) => INVALIDATING.includes(s));
  const fields: Array<['spo2' | 'heart_rate', MedFloat, string, string]> = [
    ['spo2', spo2, `SpO2${label}`, '%'],
    ['heart_rate', pr, `PR${label}`, '/min'],
  ];
  for (const [metric, v, field, unit] of fields) {
    if (invalid && v.ok)
      b.reject({ metric, field, code: 'DEVICE_FLAGGED', reason: `device reports ${invalid}`, raw: v.value });
    else if (v.ok) b.add(metric, v.value, unit, undefined, extra ? { flags: [extra] } : undefined);
    else b.medfloat(metric, field, v, unit);
  }
}

/** GSS 3.164 PLX Spot-Check Measurement 0x2A5E. */
export function decodeSpotCheck(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const spo2 = readSfloat(r, 'SpO2');
  const pr = readSfloat(r, 'PR');
  if (flags & 0x01) {
    const t = readDateTime(r);
    // bit 4: Device Clock is Not Set -> the time stamp carries no meaning
    if (flags & 0x10)
      b.reject({ field: 'time_stamp', code: 'UNKNOWN_TIME', reason: 'device clock is not set (flag bit 4)' });
    else if (t.ok) b.common.deviceTime = t.deviceTime;
    else b.reject({ field: 'time_stamp', code: 'UNKNOWN_TIME', reason: t.reason });
  }
  const statuses = readStatuses(r, flags, 0x02, 0x04);
  const pai = flags & 0x08 ? readSfloat(r, 'Pulse Amplitude Index') : undefined;
  b.common.flags = statuses;
  emitPair(b, spo2, pr, '', statuses);
  if (pai) b.medfloat('pulse_amplitude_index', 'Pulse Amplitude Index', pai, '%');
  return b.build();
}

/** GSS 3.163 PLX Continuous Measurement 0x2A5F: normal, [fast], [slow] SpO2/PR pairs. */
export function decodeContinuous(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const normal = [readSfloat(r, 'SpO2PR-Normal SpO2'), readSfloat(r, 'SpO2PR-Normal PR')] as const;
  const fast =
    flags & 0x01 ? ([readSfloat(r, 'SpO2PR-Fast SpO2'), readSfloat(r, 'SpO2PR-Fast PR')] as const) : undefined;
  const slow =
    flags & 0x02 ? ([readSfloat(r, 'SpO2PR-Slow SpO2'), readSfloat(r, 'SpO2PR-Slow PR')] as const) : undefined;
  const statuses = readStatuses(r, flags, 0x04, 0x08);
  const pai = flags & 0x10 ? readSfloat(r, 'Pulse Amplitude Index') : undefined;
  b.common.flags = [...statuses, 'continuous'];
  emitPair(b, normal[0], normal[1], '', statuses);
  if (fast) emitPair(b, fast[0], fast[1], '-Fast', statuses, 'fast');
  if (slow) emitPair(b, slow[0], slow[1], '-Slow', statuses, 'slow');
  if (pai) b.medfloat('pulse_amplitude_index', 'Pulse Amplitude Index', pai, '%');
  return b.build();
}

/** GSS 3.165 PLX Features 0x2A60: uint16 supported features, then optional status support fields. */
export function decodePlxFeatures(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const f = r.u16('Supported Features');
  const b = new ResultBuilder();
  b.addInfo('plxFeatures', {
    supported: bitNames(f, {
      0: 'measurement_status',
      1: 'device_and_sensor_status',
      2: 'spot_check_storage',
      3: 'spot_check_time_stamp',
      4: 'spo2pr_fast',
      5: 'spo2pr_slow',
      6: 'pulse_amplitude_index',
      7: 'multiple_bonds',
    }),
    measurementStatusSupport: f & 0x01 ? bitNames(r.u16('Measurement Status Support'), MEASUREMENT_STATUS) : [],
    sensorStatusSupport: f & 0x02 ? bitNames(r.u24('Device and Sensor Status Support'), SENSOR_STATUS) : [],
  });
  return b.build();
}

/** Bluetooth SIG Pulse Oximeter Service 0x1822 (PLXS 1.0). */
export const pulseOximeterDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-pulse-oximeter',
      vendor: 'Bluetooth SIG',
      models: ['Pulse Oximeter Service 0x1822'],
      description: 'Standard Pulse Oximeter Profile: spot-check by indication, continuous by notification',
      match: { serviceUuids: ['1822'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true },
      metrics: ['spo2', 'heart_rate', 'pulse_amplitude_index'],
      characteristics: [
        { service: '1822', characteristic: '2a5e', access: 'indicate', required: false },
        { service: '1822', characteristic: '2a5f', access: 'notify', required: false },
        { service: '1822', characteristic: '2a60', access: 'read' },
      ],
    },
    decoders: { '2a5e': decodeSpotCheck, '2a5f': decodeContinuous, '2a60': decodePlxFeatures },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
