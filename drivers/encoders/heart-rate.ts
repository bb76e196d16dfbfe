import { ByteWriter } from './bytes';

/** Heart Rate Measurement 0x2A37 (GSS 3.113). Energy in kJ, RR intervals in ms (sent as 1/1024 s). */
export function encodeHeartRate(m: {
  heartRate: number;
  contact?: 'not_supported' | 'not_detected' | 'detected';
  energyKj?: number;
  rrMs?: readonly number[];
}): Uint8Array {
  const wide = m.heartRate > 255;
  const contact = m.contact === 'detected' ? 0x06 : m.contact === 'not_detected' ? 0x04 : 0;
  const flags = (wide ? 1 : 0) | contact | (m.energyKj !== undefined ? 8 : 0) | (m.rrMs?.length ? 16 : 0);
  const w = new ByteWriter().u8(flags);
  if (wide) w.u16(m.heartRate);
  else w.u8(m.heartRate);
  if (m.energyKj !== undefined) w.u16(m.energyKj);
  for (const rr of m.rrMs ?? []) w.u16(Math.round((rr * 1024) / 1000));
  return w.bytes();
}
