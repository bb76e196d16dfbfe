import { ByteWriter, sfloatExponent, type DateTimeFields } from './bytes';

/** Blood Pressure Measurement 0x2A35 / Intermediate Cuff Pressure 0x2A36 (GSS 3.31). */
export interface BloodPressureFields {
  systolic: number;
  diastolic: number;
  map: number;
  unit?: 'mmHg' | 'kPa';
  timeStamp?: DateTimeFields;
  pulseRate?: number;
  userId?: number;
  /** raw Measurement Status bits (GSS 3.31.2.7) */
  status?: number;
}

export function encodeBloodPressureMeasurement(m: BloodPressureFields): Uint8Array {
  const flags =
    (m.unit === 'kPa' ? 0x01 : 0) |
    (m.timeStamp ? 0x02 : 0) |
    (m.pulseRate !== undefined ? 0x04 : 0) |
    (m.userId !== undefined ? 0x08 : 0) |
    (m.status !== undefined ? 0x10 : 0);
  const w = new ByteWriter().u8(flags);
  for (const v of [m.systolic, m.diastolic, m.map]) w.sfloat(v, sfloatExponent(v, 1));
  if (m.timeStamp) w.dateTime(m.timeStamp);
  if (m.pulseRate !== undefined) w.sfloat(m.pulseRate, sfloatExponent(m.pulseRate, 1));
  if (m.userId !== undefined) w.u8(m.userId);
  if (m.status !== undefined) w.u16(m.status);
  return w.bytes();
}

/** Intermediate Cuff Pressure: diastolic and MAP are NaN (0x07FF). */
export function encodeIntermediateCuffPressure(cuffPressure: number, unit: 'mmHg' | 'kPa' = 'mmHg'): Uint8Array {
  return new ByteWriter()
    .u8(unit === 'kPa' ? 1 : 0)
    .sfloat(cuffPressure, sfloatExponent(cuffPressure, 1))
    .u16(0x07ff)
    .u16(0x07ff)
    .bytes();
}
