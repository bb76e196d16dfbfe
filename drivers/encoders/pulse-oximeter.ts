import { ByteWriter, sfloatExponent, type DateTimeFields } from './bytes';

const sf = (w: ByteWriter, v: number) => w.sfloat(v, sfloatExponent(v, 1));

/** PLX Spot-Check Measurement 0x2A5E (GSS 3.164). */
export function encodePlxSpotCheck(m: {
  spo2: number;
  pulseRate: number;
  timeStamp?: DateTimeFields;
  measurementStatus?: number;
  sensorStatus?: number;
  pai?: number;
  clockNotSet?: boolean;
}): Uint8Array {
  const flags =
    (m.timeStamp ? 1 : 0) |
    (m.measurementStatus !== undefined ? 2 : 0) |
    (m.sensorStatus !== undefined ? 4 : 0) |
    (m.pai !== undefined ? 8 : 0) |
    (m.clockNotSet ? 16 : 0);
  const w = new ByteWriter().u8(flags);
  sf(w, m.spo2);
  sf(w, m.pulseRate);
  if (m.timeStamp) w.dateTime(m.timeStamp);
  if (m.measurementStatus !== undefined) w.u16(m.measurementStatus);
  if (m.sensorStatus !== undefined) w.u24(m.sensorStatus);
  if (m.pai !== undefined) w.sfloat(m.pai, sfloatExponent(m.pai, 2));
  return w.bytes();
}

/** PLX Continuous Measurement 0x2A5F (GSS 3.163). */
export function encodePlxContinuous(m: {
  spo2: number;
  pulseRate: number;
  fast?: { spo2: number; pulseRate: number };
  slow?: { spo2: number; pulseRate: number };
  measurementStatus?: number;
  sensorStatus?: number;
  pai?: number;
}): Uint8Array {
  const flags =
    (m.fast ? 1 : 0) |
    (m.slow ? 2 : 0) |
    (m.measurementStatus !== undefined ? 4 : 0) |
    (m.sensorStatus !== undefined ? 8 : 0) |
    (m.pai !== undefined ? 16 : 0);
  const w = new ByteWriter().u8(flags);
  for (const p of [m, m.fast, m.slow]) {
    if (!p) continue;
    sf(w, p.spo2);
    sf(w, p.pulseRate);
  }
  if (m.measurementStatus !== undefined) w.u16(m.measurementStatus);
  if (m.sensorStatus !== undefined) w.u24(m.sensorStatus);
  if (m.pai !== undefined) w.sfloat(m.pai, sfloatExponent(m.pai, 2));
  return w.bytes();
}

/** PLX Features 0x2A60 without the optional status-support fields. */
export function encodePlxFeatures(supported: number): Uint8Array {
  return new ByteWriter().u16(supported & ~0x03).bytes();
}
