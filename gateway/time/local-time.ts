/**
 * Device clocks keep local wall time without a zone (GSS Date Time 0x2A08). These helpers turn
 * such a time into UTC in the household's IANA zone, DST included. Offsets come from the system's
 * tz database (drivers/common/zone-offset.ts), not Intl: Intl's zone data costs the box ~8 MiB.
 */
import { zoneOffsetMs } from '../../drivers/common/zone-offset';

/**
 * UTC instant of a local wall time in `timeZone`. In the autumn DST overlap the earlier instant
 * is chosen; a time in the spring gap is shifted forward by the gap, as clocks do.
 */
export function localToUtc(localIso: string, timeZone: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(localIso);
  if (!m) throw new Error(`INVALID_LOCAL_TIME: ${localIso}`);
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  // the zone's offsets half a day either side bracket any DST transition near `wall`
  const before = zoneOffsetMs(wall - 12 * 3_600_000, timeZone);
  const after = zoneOffsetMs(wall + 12 * 3_600_000, timeZone);
  const exact = [wall - before, wall - after]
    .filter((c) => zoneOffsetMs(c, timeZone) === wall - c)
    .sort((a, b) => a - b);
  // no exact instant: the wall time is in the spring gap; read it with the offset before the change
  return new Date(exact[0] ?? wall - before);
}

/** Local wall time (no zone) of an instant in `timeZone`, the form device clocks use. */
export function utcToLocalIso(date: Date, timeZone: string): string {
  const local = new Date(date.getTime() + zoneOffsetMs(date.getTime(), timeZone));
  return local.toISOString().slice(0, 19);
}

/** UTC offset (ms) of `timeZone` at an instant: +3 600 000 for Paris in winter. */
export function zoneOffsetAt(date: Date, timeZone: string): number {
  return zoneOffsetMs(date.getTime(), timeZone);
}
