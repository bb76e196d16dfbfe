import { ByteWriter, type DateTimeFields } from './bytes';
export {
  encodeRacpRequest,
  encodeRacpResponse,
  decodeRacpRequest,
  racpAbort,
  racpReportAllRecords,
  racpReportNumberOfRecords,
  racpReportRecordsAfter,
} from '../common/racp';

/** Glucose Measurement 0x2A18 (GSS 3.106). Concentration in mmol/L (encoded as mol/L) or mg/dL (encoded as kg/L). */
export interface GlucoseFields {
  sequence: number;
  baseTime: DateTimeFields;
  timeOffsetMinutes?: number;
  concentration?: { value: number; unit: 'mmol/L' | 'mg/dL'; type?: number; location?: number };
  annunciation?: number;
  contextFollows?: boolean;
}

export function encodeGlucoseMeasurement(m: GlucoseFields): Uint8Array {
  const c = m.concentration;
  const flags =
    (m.timeOffsetMinutes !== undefined ? 1 : 0) |
    (c ? 2 : 0) |
    (c?.unit === 'mmol/L' ? 4 : 0) |
    (m.annunciation !== undefined ? 8 : 0) |
    (m.contextFollows ? 16 : 0);
  const w = new ByteWriter().u8(flags).u16(m.sequence).dateTime(m.baseTime);
  if (m.timeOffsetMinutes !== undefined) w.u16(m.timeOffsetMinutes & 0xffff);
  if (c) {
    // mol/L with exponent -5 keeps 0.01 mmol/L; kg/L with exponent -5 keeps 1 mg/dL
    const v = c.unit === 'mmol/L' ? c.value / 1000 : c.value / 100000;
    w.sfloat(v, Math.abs(v) <= 0.02045 ? -5 : -4);
    w.u8(((c.location ?? 1) << 4) | (c.type ?? 1));
  }
  if (m.annunciation !== undefined) w.u16(m.annunciation);
  return w.bytes();
}

/** Glucose Measurement Context 0x2A34 (GSS 3.107): meal and HbA1c only; enough for simulators. */
export function encodeGlucoseContext(m: { sequence: number; meal?: number; hba1c?: number }): Uint8Array {
  const flags = (m.meal !== undefined ? 0x02 : 0) | (m.hba1c !== undefined ? 0x40 : 0);
  const w = new ByteWriter().u8(flags).u16(m.sequence);
  if (m.meal !== undefined) w.u8(m.meal);
  if (m.hba1c !== undefined) w.sfloat(m.hba1c, -1);
  return w.bytes();
}
