import { ByteReader } from '../codecs/byte-reader';
import { KJ_TO_KCAL, ResultBuilder, round } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import { DecodeError } from '../sdk/errors';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { deviceInformation } from '../common/device-information';

/**
 * GSS 3.113 Heart Rate Measurement 0x2A37: flags (bit 0 uint16 value, bits 1-2 sensor contact,
 * bit 3 energy expended uint16 kJ, bit 4 RR-intervals uint16 in 1/1024 s, repeated to the end).
 */
export function decodeHeartRate(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const hr =
    flags & 0x01 ? r.u16('Heart Rate Measurement Value (uint16)') : r.u8('Heart Rate Measurement Value (uint8)');
  const contact = (flags >> 1) & 0x03;
  if (contact === 2) b.common.flags = ['no_skin_contact'];
  if (contact === 3) b.common.flags = ['skin_contact'];
  b.add('heart_rate', hr, '/min');
  if (flags & 0x08) {
    const kj = r.u16('Energy Expended');
    // 0xFFFF: the accumulator saturated; the real value is at least that (HRS 1.0 3.1.1.3)
    if (kj === 0xffff)
      b.reject({
        metric: 'energy_expended',
        field: 'Energy Expended',
        code: 'SPECIAL_VALUE',
        reason: 'energy expended saturated at 65535 kJ',
        raw: kj,
      });
    else b.add('energy_expended', kj, 'kcal', KJ_TO_KCAL);
  }
  if (flags & 0x10) {
    if (r.remaining % 2 !== 0)
      throw new DecodeError('INVALID', `RR-Interval field has an odd length (${r.remaining} bytes)`);
    while (r.remaining >= 2) b.add('rr_interval', round((r.u16('RR-Interval') * 1000) / 1024, 1), 'ms', undefined);
  }
  return b.build();
}

const LOCATIONS: Record<number, string> = {
  0: 'other',
  1: 'chest',
  2: 'wrist',
  3: 'finger',
  4: 'hand',
  5: 'ear_lobe',
  6: 'foot',
};

/** GSS 3.24 Body Sensor Location 0x2A38. */
export function decodeBodySensorLocation(bytes: Uint8Array): DecodeResult {
  const v = new ByteReader(bytes).u8('Body Sensor Location');
  const b = new ResultBuilder();
  const name = LOCATIONS[v];
  if (name) b.addInfo('bodySensorLocation', name);
  else b.reject({ field: 'Body Sensor Location', code: 'RESERVED', reason: `location ${v} is reserved`, raw: v });
  return b.build();
}

/** Bluetooth SIG Heart Rate Service 0x180D (HRS 1.0). */
export const heartRateDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-heart-rate',
      vendor: 'Bluetooth SIG',
      models: ['Heart Rate Service 0x180D'],
      description: 'Standard Heart Rate Profile: heart rate, energy expended and RR intervals by notification',
      match: { serviceUuids: ['180d'] },
      linkMode: 'connect',
      capabilities: {},
      metrics: ['heart_rate', 'energy_expended', 'rr_interval'],
      characteristics: [
        { service: '180d', characteristic: '2a37', access: 'notify' },
        { service: '180d', characteristic: '2a38', access: 'read', required: false },
      ],
    },
    decoders: { '2a37': decodeHeartRate, '2a38': decodeBodySensorLocation },
  },
  battery(),
  deviceInformation(),
);
