import { ByteWriter, type DateTimeFields } from './bytes';

/** Body Composition Measurement 0x2A9C (GSS 3.34). Masses in kg (SI) or lb (imperial). */
export interface BodyCompositionFields {
  bodyFat: number;
  imperial?: boolean;
  timeStamp?: DateTimeFields;
  userId?: number;
  /** kJ */
  basalMetabolism?: number;
  musclePercentage?: number;
  muscleMass?: number;
  fatFreeMass?: number;
  softLeanMass?: number;
  bodyWaterMass?: number;
  /** Ohm */
  impedance?: number;
  weight?: number;
  /** m (SI) or in (imperial) */
  height?: number;
  multiplePacket?: boolean;
}

export function encodeBodyComposition(m: BodyCompositionFields): Uint8Array {
  const massRes = m.imperial ? 0.01 : 0.005;
  const fields: Array<[keyof BodyCompositionFields, number, number]> = [
    ['basalMetabolism', 3, 1],
    ['musclePercentage', 4, 0.1],
    ['muscleMass', 5, massRes],
    ['fatFreeMass', 6, massRes],
    ['softLeanMass', 7, massRes],
    ['bodyWaterMass', 8, massRes],
    ['impedance', 9, 0.1],
    ['weight', 10, massRes],
    ['height', 11, m.imperial ? 0.1 : 0.001],
  ];
  let flags =
    (m.imperial ? 1 : 0) | (m.timeStamp ? 2 : 0) | (m.userId !== undefined ? 4 : 0) | (m.multiplePacket ? 1 << 12 : 0);
  for (const [k, bit] of fields) if (m[k] !== undefined) flags |= 1 << bit;
  const w = new ByteWriter().u16(flags).u16(Math.round(m.bodyFat * 10));
  if (m.timeStamp) w.dateTime(m.timeStamp);
  if (m.userId !== undefined) w.u8(m.userId);
  for (const [k, , res] of fields) {
    const v = m[k];
    if (typeof v === 'number') w.u16(Math.round(v / res));
  }
  return w.bytes();
}
