import { ByteReader } from '../codecs/byte-reader';
import { ResultBuilder } from '../codecs/fields';
import type { DecodeResult } from '../sdk/definition';
import type { DriverExtension } from '../sdk/compose';

/** GSS 3.27 Battery Level 0x2A19: uint8 percentage, 0..100; 101..255 reserved. */
export function decodeBatteryLevel(bytes: Uint8Array): DecodeResult {
  const level = new ByteReader(bytes).u8('Battery Level');
  const b = new ResultBuilder();
  if (level > 100)
    b.reject({
      metric: 'battery_level',
      field: 'Battery Level',
      code: 'RESERVED',
      reason: `${level} is reserved (0..100 allowed)`,
      raw: level,
    });
  else b.add('battery_level', level, '%');
  return b.build();
}

export function encodeBatteryLevel(level: number): Uint8Array {
  return Uint8Array.of(Math.max(0, Math.min(100, Math.round(level))));
}

/** Battery Service 0x180F, read on connect. */
export function battery(): DriverExtension {
  return {
    characteristics: [{ service: '180f', characteristic: '2a19', access: 'read', required: false }],
    decoders: { '2a19': decodeBatteryLevel },
    metrics: ['battery_level'],
    capabilities: { battery: true },
  };
}
