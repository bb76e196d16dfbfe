import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKnownTimeZone, parsePosixTz, zoneOffsetMs } from '../../../drivers/common/zone-offset';

const formats = new Map<string, Intl.DateTimeFormat>();
/** the offset as Intl (ICU's zone data) gives it: the reference */
function intlOffset(utcMs: number, timeZone: string): number {
  let f = formats.get(timeZone);
  if (!f)
    formats.set(
      timeZone,
      (f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      })),
    );
  const get = (t: string) => Number(f.formatToParts(new Date(utcMs)).find((p) => p.type === t)?.value);
  return (
    Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) -
    Math.floor(utcMs / 1000) * 1000
  );
}

// zones whose rules the system tz database and Node's ICU agree on (Morocco's 2026 change is in
// one and not the other on some machines); northern, southern, half-hour, 45-minute, negative DST
const ZONES = [
  'Europe/Paris',
  'Europe/London',
  'Europe/Dublin',
  'America/New_York',
  'America/St_Johns',
  'America/Sao_Paulo',
  'America/Santiago',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Pacific/Auckland',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'Asia/Tehran',
  'Asia/Tokyo',
  'Antarctica/Troll',
];

describe.runIf(existsSync('/usr/share/zoneinfo/Europe/Paris'))('zone offsets from the system tz database', () => {
  it(
    'agree with Intl every 157 hours from 1970 to 2100 (transitions, then the footer rule)',
    { timeout: 120_000 },
    () => {
      const diffs: string[] = [];
      for (const z of ZONES)
        for (let t = Date.UTC(1970, 0, 1); t < Date.UTC(2101, 0, 1); t += 157 * 3_600_000 + 1234) {
          const got = zoneOffsetMs(t, z);
          const want = intlOffset(t, z);
          if (got !== want) diffs.push(`${z} ${new Date(t).toISOString()} ${got} vs ${want}`);
        }
      expect(diffs.slice(0, 5)).toEqual([]);
    },
  );

  it('changes at the very second of a transition (Paris, 29 March 2026 01:00 UTC; 25 October 01:00 UTC)', () => {
    const spring = Date.UTC(2026, 2, 29, 1);
    expect([zoneOffsetMs(spring - 1000, 'Europe/Paris'), zoneOffsetMs(spring, 'Europe/Paris')]).toEqual([
      3_600_000, 7_200_000,
    ]);
    const autumn = Date.UTC(2026, 9, 25, 1);
    expect([zoneOffsetMs(autumn - 1000, 'Europe/Paris'), zoneOffsetMs(autumn, 'Europe/Paris')]).toEqual([
      7_200_000, 3_600_000,
    ]);
    // beyond the file's last transition the footer's rule decides (POSIX TZ)
    const later = Date.UTC(2090, 2, 26, 1);
    expect([zoneOffsetMs(later - 1000, 'Europe/Paris'), zoneOffsetMs(later, 'Europe/Paris')]).toEqual([
      3_600_000, 7_200_000,
    ]);
  });

  it('knows real zones and refuses made-up names and paths', () => {
    expect(isKnownTimeZone('Europe/Paris')).toBe(true);
    expect(isKnownTimeZone('UTC')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isKnownTimeZone('../../etc/passwd')).toBe(false);
  });
});

describe('POSIX TZ rules (the TZif footer)', () => {
  it('reads offsets west-positive, names in angle brackets, and rule dates with times', () => {
    expect(parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3')).toEqual({
      std: 3600,
      dst: 7200,
      start: { kind: 'M', month: 3, week: 5, weekday: 0, time: 7200 },
      end: { kind: 'M', month: 10, week: 5, weekday: 0, time: 10800 },
    });
    expect(parsePosixTz('<+0330>-3:30')).toEqual({ std: 12600 });
    expect(parsePosixTz('<-03>3<-02>,M3.5.0/-2,M10.5.0/-1')).toMatchObject({ std: -10800, dst: -7200 });
    expect(parsePosixTz('IST-1GMT0,M10.5.0,M3.5.0/1')).toMatchObject({ std: 3600, dst: 0 });
    expect(() => parsePosixTz('1abc')).toThrow(/TZ_RULE_INVALID/);
  });
});
