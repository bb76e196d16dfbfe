import { ByteWriter } from './bytes';

/** RSC Measurement 0x2A53 (GSS 3.188): speed m/s, cadence /min, stride m, total distance m. */
export function encodeRscMeasurement(m: {
  speed: number;
  cadence: number;
  strideLength?: number;
  totalDistance?: number;
  running?: boolean;
}): Uint8Array {
  const flags = (m.strideLength !== undefined ? 1 : 0) | (m.totalDistance !== undefined ? 2 : 0) | (m.running ? 4 : 0);
  const w = new ByteWriter()
    .u8(flags)
    .u16(Math.round(m.speed * 256))
    .u8(m.cadence);
  if (m.strideLength !== undefined) w.u16(Math.round(m.strideLength * 100));
  if (m.totalDistance !== undefined) w.u32(Math.round(m.totalDistance * 10));
  return w.bytes();
}

interface Session {
  session?: number;
  subSession?: number;
  relativeSeconds?: number;
  sequence: number;
}

/** Splits a PAMS payload into segments of at most `maxPayload` bytes with a segmentation header. */
export function segmentPams(payload: Uint8Array, maxPayload = 19): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = Math.max(1, Math.ceil(payload.length / maxPayload));
  for (let i = 0; i < n; i++) {
    const header = (i === 0 ? 1 : 0) | (i === n - 1 ? 2 : 0) | ((i & 0x3f) << 2);
    out.push(Uint8Array.of(header, ...payload.subarray(i * maxPayload, (i + 1) * maxPayload)));
  }
  return out;
}

function session(w: ByteWriter, s: Session): ByteWriter {
  return w
    .u16(s.session ?? 1)
    .u16(s.subSession ?? 0)
    .u32(s.relativeSeconds ?? 0)
    .u32(s.sequence);
}

/** Step Counter Activity Summary Data 0x2B40 payload (before segmentation). */
export function encodeStepCounterSummary(
  m: Session & {
    normalWalkingSteps?: number;
    intensitySteps?: number;
    floorSteps?: number;
    distance?: number;
    wornSeconds?: number;
  },
): Uint8Array {
  const keys = [m.normalWalkingSteps, m.intensitySteps, m.floorSteps, m.distance, m.wornSeconds];
  const flags = keys.reduce<number>((f, v, i) => (v !== undefined ? f | (1 << i) : f), 0);
  const w = session(new ByteWriter().u8(flags), m);
  for (const v of keys) if (v !== undefined) w.u24(v);
  return w.bytes();
}

/** General Activity Summary Data 0x2B3D payload with Total Energy Expenditure (kcal) only. */
export function encodeGeneralActivitySummary(m: Session & { totalEnergyKcal: number }): Uint8Array {
  return session(new ByteWriter().u32(0x04), m).u16(m.totalEnergyKcal).bytes();
}
