import { ByteWriter, type DateTimeFields } from './bytes';

/** Temperature Measurement 0x2A1C / Intermediate Temperature 0x2A1E (GSS 3.217): IEEE FLOAT. */
export function encodeTemperatureMeasurement(m: {
  value: number;
  fahrenheit?: boolean;
  timeStamp?: DateTimeFields;
  type?: number;
  exponent?: number;
}): Uint8Array {
  const flags = (m.fahrenheit ? 1 : 0) | (m.timeStamp ? 2 : 0) | (m.type !== undefined ? 4 : 0);
  const w = new ByteWriter().u8(flags).float(m.value, m.exponent ?? -2);
  if (m.timeStamp) w.dateTime(m.timeStamp);
  if (m.type !== undefined) w.u8(m.type);
  return w.bytes();
}

export function encodeTemperatureType(type: number): Uint8Array {
  return Uint8Array.of(type);
}
