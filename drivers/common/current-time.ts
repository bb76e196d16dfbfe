import { ByteReader } from '../codecs/byte-reader';
import { encodeDateTime, readDateTime } from '../codecs/date-time';
import { bitNames, ResultBuilder } from '../codecs/fields';
import type { DecodeResult } from '../sdk/definition';
import type { DriverExtension } from '../sdk/compose';
import { systemTimeZone, zoneOffsetMs } from './zone-offset';

/** GSS 3.62 Current Time 0x2A2B, Adjust Reason bits. */
const ADJUST_REASON: Record<number, string> = {
  0: 'manual_time_update',
  1: 'external_reference_time_update',
  2: 'change_of_time_zone',
  3: 'change_of_dst',
};

export interface CurrentTime {
  /** local time as the device keeps it, no zone; undefined when the device clock is not set */
  deviceTime?: string;
  /** 1 = Monday .. 7 = Sunday, 0 = unknown (GSS Day of Week) */
  dayOfWeek: number;
  fractions256: number;
  adjustReason: string[];
}

/** Current Time = Exact Time 256 (Day Date Time + Fractions256) + Adjust Reason: 10 octets. */
export function decodeCurrentTime(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const t = readDateTime(r);
  const dayOfWeek = r.u8('Day of Week');
  const fractions256 = r.u8('Fractions256');
  const adjust = r.u8('Adjust Reason');
  const b = new ResultBuilder();
  const ct: CurrentTime = {
    dayOfWeek: dayOfWeek > 7 ? 0 : dayOfWeek,
    fractions256,
    adjustReason: bitNames(adjust, ADJUST_REASON),
  };
  if (t.ok) ct.deviceTime = t.deviceTime;
  else b.reject({ field: 'Exact Time 256', code: 'UNKNOWN_TIME', reason: t.reason });
  if (dayOfWeek > 7)
    b.reject({ field: 'Day of Week', code: 'RESERVED', reason: `${dayOfWeek} is reserved`, raw: dayOfWeek });
  b.addInfo('currentTime', ct);
  return b.build();
}

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** Encodes a Current Time value (the gateway writes it to sync the device clock; simulators notify it). */
export function encodeCurrentTime(
  local: LocalTime & { dayOfWeek?: number; fractions256?: number; adjustReason?: readonly string[] },
): Uint8Array {
  const reasons = Object.entries(ADJUST_REASON).filter(([, n]) => local.adjustReason?.includes(n));
  const adjust = reasons.reduce((acc, [bit]) => acc | (1 << Number(bit)), 0);
  return Uint8Array.of(...encodeDateTime(local), local.dayOfWeek ?? 0, local.fractions256 ?? 0, adjust);
}

/** Local wall-clock fields of `date` in the IANA `timeZone` (default: the process zone). */
export function localTimeOf(date: Date, timeZone?: string): LocalTime & { dayOfWeek: number; fractions256: number } {
  // the wall clock read off a UTC date shifted by the zone's offset (zone-offset.ts: no Intl, whose
  // zone data costs a gateway ~8 MiB of memory)
  const local = new Date(date.getTime() + zoneOffsetMs(date.getTime(), timeZone ?? systemTimeZone()));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hours: local.getUTCHours(),
    minutes: local.getUTCMinutes(),
    seconds: local.getUTCSeconds(),
    // GSS Day of Week: Monday 1 ... Sunday 7
    dayOfWeek: ((local.getUTCDay() + 6) % 7) + 1,
    fractions256: Math.floor((date.getMilliseconds() * 256) / 1000),
  };
}

/** Current Time Service 0x1805: read to measure drift, written to set the clock. */
export function currentTime(): DriverExtension {
  return {
    characteristics: [{ service: '1805', characteristic: '2a2b', access: 'read', required: false }],
    decoders: { '2a2b': decodeCurrentTime },
    capabilities: { timeSync: true },
  };
}
