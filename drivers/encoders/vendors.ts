import { contecChecksum } from '../vendors/contec';
import { ByteWriter, type DateTimeFields } from './bytes';

/** Contec real-time frame EB 01 (drivers/vendors/contec.ts): bit 7 of data bytes moved to the hi byte. */
export function encodeContecRealtime(m: { pulseRate: number; spo2: number; pai?: number }): Uint8Array {
  const data = [m.pulseRate, m.spo2, m.pai === undefined ? 0xff : Math.round(m.pai * 10), 0];
  const hi = data.reduce((h, v, i) => h | (((v >> 7) & 1) << i), 0);
  const body = Uint8Array.of(0xeb, 0x01, hi, ...data.map((v) => v & 0x7f));
  return Uint8Array.of(...body, contecChecksum(body));
}

/** Mi Smart Scale 0x181D service data (drivers/vendors/xiaomi.ts). */
export function encodeMiScaleServiceData(m: {
  weight: number;
  unit?: 'kg' | 'lb';
  stabilised?: boolean;
  removed?: boolean;
  time: DateTimeFields;
}): Uint8Array {
  const ctrl = 0x02 | (m.unit === 'lb' ? 0x01 : 0) | (m.stabilised === false ? 0 : 0x20) | (m.removed ? 0x80 : 0);
  return new ByteWriter()
    .u8(ctrl)
    .u16(Math.round(m.weight * (m.unit === 'lb' ? 100 : 200)))
    .dateTime(m.time)
    .bytes();
}

/** Mi Body Composition Scale 0x181B service data. */
export function encodeMiBodyCompositionServiceData(m: {
  weight: number;
  impedance?: number;
  stabilised?: boolean;
  time: DateTimeFields;
}): Uint8Array {
  const ctrl1 = 0x04 | (m.stabilised === false ? 0 : 0x20) | (m.impedance !== undefined ? 0x02 : 0);
  return new ByteWriter()
    .u8(0x02)
    .u8(ctrl1)
    .dateTime(m.time)
    .u16(m.impedance ?? 0)
    .u16(Math.round(m.weight * 200))
    .bytes();
}
