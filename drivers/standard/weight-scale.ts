import { ByteReader } from '../codecs/byte-reader';
import { readTimeStamp, readUserId } from '../codecs/common';
import { IN_TO_CM, LB_TO_KG, ResultBuilder, bitNames, round } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';

/** GSS 3.260 Weight Measurement 0x2A9D flags. */
const IMPERIAL = 0x01;
const TIME_STAMP = 0x02;
const USER_ID = 0x04;
const BMI_HEIGHT = 0x08;
/** WSS 1.0: 0xFFFF in the Weight field = "Measurement Unsuccessful". */
const UNSUCCESSFUL = 0xffff;

/** Weight: SI 0.005 kg, imperial 0.01 lb; BMI 0.1 kg/m2; height SI 0.001 m, imperial 0.1 in. */
export function decodeWeightMeasurement(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const imperial = (flags & IMPERIAL) !== 0;
  const weight = r.u16('Weight');
  if (flags & TIME_STAMP) readTimeStamp(r, b);
  if (flags & USER_ID) readUserId(r, b);
  if (weight === UNSUCCESSFUL)
    b.reject({
      metric: 'body_weight',
      field: 'Weight',
      code: 'SPECIAL_VALUE',
      reason: 'measurement unsuccessful (0xFFFF)',
      raw: weight,
    });
  else if (imperial) b.add('body_weight', round(weight * 0.01, 2), 'kg', LB_TO_KG);
  else b.add('body_weight', round(weight * 0.005, 3), 'kg');
  if (flags & BMI_HEIGHT) {
    const bmi = r.u16('BMI');
    const height = r.u16('Height');
    b.add('bmi', round(bmi * 0.1, 1), 'kg/m2');
    if (imperial) b.add('height', round(height * 0.1, 1), 'cm', IN_TO_CM);
    else b.add('height', round(height * 0.1, 1), 'cm', { factor: 1, deviceUnit: 'm', decimals: 1 });
  }
  return b.build();
}

/** GSS 3.261 Weight Scale Feature 0x2A9E (uint32). */
const WEIGHT_RESOLUTION = [
  'unspecified',
  '0.5 kg / 1 lb',
  '0.2 kg / 0.5 lb',
  '0.1 kg / 0.2 lb',
  '0.05 kg / 0.1 lb',
  '0.02 kg / 0.05 lb',
  '0.01 kg / 0.02 lb',
  '0.005 kg / 0.01 lb',
];
const HEIGHT_RESOLUTION = ['unspecified', '0.01 m / 1 in', '0.005 m / 0.5 in', '0.001 m / 0.1 in'];

export function decodeWeightScaleFeature(bytes: Uint8Array): DecodeResult {
  const f = new ByteReader(bytes).u32('Weight Scale Feature');
  const b = new ResultBuilder();
  b.addInfo('weightScaleFeature', {
    supported: bitNames(f, { 0: 'time_stamp', 1: 'multiple_users', 2: 'bmi' }),
    weightResolution: WEIGHT_RESOLUTION[(f >>> 3) & 0x0f] ?? 'reserved',
    heightResolution: HEIGHT_RESOLUTION[(f >>> 7) & 0x07] ?? 'reserved',
  });
  return b.build();
}

/** Bluetooth SIG Weight Scale Service 0x181D (WSS 1.0). */
export const weightScaleDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-weight-scale',
      vendor: 'Bluetooth SIG',
      models: ['Weight Scale Service 0x181D'],
      description: 'Standard Weight Scale Profile: weight, BMI and height by indication',
      match: { serviceUuids: ['181d'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true, multiUser: true },
      metrics: ['body_weight', 'bmi', 'height'],
      characteristics: [
        { service: '181d', characteristic: '2a9d', access: 'indicate' },
        { service: '181d', characteristic: '2a9e', access: 'read', required: false },
      ],
    },
    decoders: { '2a9d': decodeWeightMeasurement, '2a9e': decodeWeightScaleFeature },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
