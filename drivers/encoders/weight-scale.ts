import { ByteWriter, type DateTimeFields } from './bytes';

/** Weight Measurement 0x2A9D (GSS 3.260): weight in kg (SI, 0.005) or lb (imperial, 0.01). */
export interface WeightFields {
  weight: number;
  imperial?: boolean;
  timeStamp?: DateTimeFields;
  userId?: number;
  /** BMI kg/m2 and height (m when SI, in when imperial) */
  bmi?: number;
  height?: number;
}

export function encodeWeightMeasurement(m: WeightFields): Uint8Array {
  const withBmi = m.bmi !== undefined && m.height !== undefined;
  const flags =
    (m.imperial ? 0x01 : 0) | (m.timeStamp ? 0x02 : 0) | (m.userId !== undefined ? 0x04 : 0) | (withBmi ? 0x08 : 0);
  const w = new ByteWriter().u8(flags).u16(Math.round(m.weight / (m.imperial ? 0.01 : 0.005)));
  if (m.timeStamp) w.dateTime(m.timeStamp);
  if (m.userId !== undefined) w.u8(m.userId);
  if (withBmi) w.u16(Math.round((m.bmi ?? 0) * 10)).u16(Math.round((m.height ?? 0) / (m.imperial ? 0.1 : 0.001)));
  return w.bytes();
}

/** Weight Scale Feature 0x2A9E. */
export function encodeWeightScaleFeature(f: {
  timeStamp?: boolean;
  multiUser?: boolean;
  bmi?: boolean;
  weightResolution?: number;
  heightResolution?: number;
}): Uint8Array {
  const v =
    (f.timeStamp ? 1 : 0) |
    (f.multiUser ? 2 : 0) |
    (f.bmi ? 4 : 0) |
    ((f.weightResolution ?? 0) << 3) |
    ((f.heightResolution ?? 0) << 7);
  return new ByteWriter().u32(v).bytes();
}
