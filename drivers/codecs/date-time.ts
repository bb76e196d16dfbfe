import type { ByteReader } from './byte-reader';

/**
 * GSS Date Time (0x2A08 layout): year uint16 (0 = unknown, else 1582..9999), month (0 = unknown),
 * day (0 = unknown), hours, minutes, seconds. Returned as the device sent it: local time, no zone.
 */
export type DeviceDateTime = { ok: true; deviceTime: string } | { ok: false; reason: string };

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function readDateTime(r: ByteReader): DeviceDateTime {
  const year = r.u16('Date Time year');
  const month = r.u8('Date Time month');
  const day = r.u8('Date Time day');
  const hours = r.u8('Date Time hours');
  const minutes = r.u8('Date Time minutes');
  const seconds = r.u8('Date Time seconds');
  if (year === 0 || month === 0 || day === 0)
    return { ok: false, reason: 'device clock not set (year, month or day is 0 = unknown)' };
  if (year < 1582 || year > 9999 || month > 12 || hours > 23 || minutes > 59 || seconds > 59) {
    return { ok: false, reason: 'date time field out of range' };
  }
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return { ok: false, reason: 'day out of range for month' };
  return {
    ok: true,
    deviceTime: `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hours)}:${pad(minutes)}:${pad(seconds)}`,
  };
}

/** Encoder, for simulators and the Current Time write. */
export function encodeDateTime(local: {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}): Uint8Array {
  return Uint8Array.of(
    local.year & 0xff,
    local.year >> 8,
    local.month,
    local.day,
    local.hours,
    local.minutes,
    local.seconds,
  );
}
