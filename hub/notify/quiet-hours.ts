const HOUR = 3_600_000;
const parisHour = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: 'numeric', hourCycle: 'h23' });

/** Hour of the day in Europe/Paris (the programs' time zone, ui-notes). */
export function localHour(at: Date): number {
  return Number(parisHour.format(at));
}

export function inQuietHours(at: Date, start: number, end: number): boolean {
  if (start === end) return false;
  const h = localHour(at);
  return start < end ? h >= start && h < end : h >= start || h < end;
}

/**
 * When a non-urgent message may go out: now, or the first full hour after the quiet hours
 * (DST-safe: walks real instants and asks the Paris clock).
 */
export function notBefore(now: Date, start: number, end: number): Date {
  if (!inQuietHours(now, start, end)) return now;
  let t = new Date(Math.floor(now.getTime() / HOUR) * HOUR);
  for (let i = 0; i < 26; i++) {
    t = new Date(t.getTime() + HOUR);
    if (!inQuietHours(t, start, end)) return t;
  }
  return now;
}
