import { ByteReader } from '../codecs/byte-reader';
import { readTimeStamp } from '../codecs/common';
import { F_TO_C, ResultBuilder } from '../codecs/fields';
import { readFloat } from '../codecs/ieee11073';
import { defineDriver } from '../sdk/compose';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';

/** GSS 3.216 Temperature Type 0x2A1D (also the optional field of 0x2A1C); 0 and 10..255 reserved. */
export const TEMPERATURE_TYPES: Record<number, string> = {
  1: 'armpit',
  2: 'body',
  3: 'ear',
  4: 'finger',
  5: 'gastrointestinal_tract',
  6: 'mouth',
  7: 'rectum',
  8: 'toe',
  9: 'tympanum',
};

/** GSS 3.217 Temperature Measurement 0x2A1C / 3.124 Intermediate Temperature 0x2A1E: flags, FLOAT, [time], [type]. */
export function decodeTemperature(bytes: Uint8Array, intermediate = false): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const value = readFloat(r, 'Temperature Measurement Value');
  if (flags & 0x02) readTimeStamp(r, b);
  const flagNames: string[] = [];
  if (flags & 0x04) {
    const type = r.u8('Temperature Type');
    const name = TEMPERATURE_TYPES[type];
    if (name) flagNames.push(`site_${name}`);
    else
      b.reject({
        field: 'Temperature Type',
        code: 'RESERVED',
        reason: `temperature type ${type} is reserved`,
        raw: type,
      });
  }
  if (intermediate) flagNames.push('intermediate');
  b.common.flags = flagNames;
  b.medfloat('body_temperature', 'Temperature Measurement Value', value, 'Cel', flags & 0x01 ? F_TO_C : undefined);
  return b.build();
}

export function decodeTemperatureType(bytes: Uint8Array): DecodeResult {
  const type = new ByteReader(bytes).u8('Temperature Type');
  const b = new ResultBuilder();
  const name = TEMPERATURE_TYPES[type];
  if (name) b.addInfo('temperatureType', name);
  else
    b.reject({
      field: 'Temperature Type',
      code: 'RESERVED',
      reason: `temperature type ${type} is reserved`,
      raw: type,
    });
  return b.build();
}

/** Bluetooth SIG Health Thermometer Service 0x1809 (HTS 1.0). */
export const healthThermometerDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-health-thermometer',
      vendor: 'Bluetooth SIG',
      models: ['Health Thermometer Service 0x1809'],
      description: 'Standard Health Thermometer Profile: final temperature by indication, intermediate by notification',
      match: { serviceUuids: ['1809'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true },
      metrics: ['body_temperature'],
      characteristics: [
        { service: '1809', characteristic: '2a1c', access: 'indicate' },
        { service: '1809', characteristic: '2a1e', access: 'notify', required: false },
        { service: '1809', characteristic: '2a1d', access: 'read', required: false },
      ],
    },
    decoders: {
      '2a1c': (bytes) => decodeTemperature(bytes),
      '2a1e': (bytes) => decodeTemperature(bytes, true),
      '2a1d': decodeTemperatureType,
    },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
