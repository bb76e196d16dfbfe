import { readFileSync, readlinkSync } from 'node:fs';

/**
 * UTC offsets of IANA time zones read from the system's compiled tz database (TZif files, RFC
 * 8536, under /usr/share/zoneinfo or $TZDIR) instead of Intl.DateTimeFormat. On the box this is
 * a memory matter: the first Intl.DateTimeFormat with a time zone maps ICU's locale and zone data
 * into the process, about 8 MiB of resident memory on Node 24 (bench/README.md, gateway memory),
 * for what is a table lookup. Where no TZif file can be read (another OS, a container without
 * tzdata) the answer comes from Intl, as before.
 */

const ZONE_NAME = /^(?:[A-Za-z0-9_+-]+)(?:\/[A-Za-z0-9_+-]+)*$/;
const HOUR = 3600;

interface PosixRule {
  /** standard time's offset east of UTC, seconds */
  std: number;
  /** daylight time's offset east of UTC, seconds; absent: no DST */
  dst?: number;
  start?: RuleDate;
  end?: RuleDate;
}

/** a POSIX TZ rule date: Mm.w.d, Jn (Feb 29 never counted) or n (zero-based, Feb 29 counted), at `time` local seconds */
type RuleDate = ({ kind: 'M'; month: number; week: number; weekday: number } | { kind: 'J' | 'n'; day: number }) & {
  time: number;
};

interface Zone {
  /** transition instants, seconds since the epoch, ascending */
  at: number[];
  /** offset east of UTC (seconds) from each transition on */
  offset: number[];
  /** offset before the first transition (RFC 8536 3.2: the first time type) */
  first: number;
  /** the TZ string of the footer: offsets after the last transition */
  rule?: PosixRule;
}

const zones = new Map<string, Zone | null>();

function tzdir(): string {
  return process.env.TZDIR ?? '/usr/share/zoneinfo';
}

function loadZone(name: string): Zone | null {
  let z = zones.get(name);
  if (z !== undefined) return z;
  z = null;
  if (ZONE_NAME.test(name) && !name.split('/').includes('..')) {
    try {
      z = parseTzif(readFileSync(`${tzdir()}/${name}`));
    } catch {
      z = null;
    }
  }
  zones.set(name, z);
  return z;
}

/** RFC 8536 section 3: header, v1 data block (skipped when a v2+ block follows), v2+ block, footer. */
export function parseTzif(buf: Buffer): Zone {
  if (buf.toString('latin1', 0, 4) !== 'TZif') throw new Error('TZIF_INVALID: no TZif magic');
  const version = buf[4] ?? 0;
  const counts = (at: number) => {
    const n = (i: number) => buf.readUInt32BE(at + 20 + i * 4);
    return { isut: n(0), isstd: n(1), leap: n(2), time: n(3), type: n(4), char: n(5) };
  };
  let at = 0;
  let c = counts(0);
  let timeSize = 4;
  if (version >= 0x32) {
    // skip the 32-bit block: its header is 44 bytes
    at = 44 + c.time * 4 + c.time + c.type * 6 + c.char + c.leap * 8 + c.isstd + c.isut;
    c = counts(at);
    timeSize = 8;
  }
  let p = at + 44;
  const times: number[] = [];
  for (let i = 0; i < c.time; i++, p += timeSize)
    times.push(timeSize === 8 ? Number(buf.readBigInt64BE(p)) : buf.readInt32BE(p));
  const idx: number[] = [];
  for (let i = 0; i < c.time; i++, p++) idx.push(buf[p] ?? 0);
  const utoff: number[] = [];
  for (let i = 0; i < c.type; i++, p += 6) utoff.push(buf.readInt32BE(p));
  p += c.char + c.leap * (timeSize + 4) + c.isstd + c.isut;
  const zone: Zone = {
    at: times,
    offset: idx.map((i) => utoff[i] ?? 0),
    first: utoff[0] ?? 0,
  };
  if (version >= 0x32 && buf[p] === 0x0a) {
    const end = buf.indexOf(0x0a, p + 1);
    const footer = buf.toString('latin1', p + 1, end < 0 ? buf.length : end);
    if (footer) zone.rule = parsePosixTz(footer);
  }
  return zone;
}

/** POSIX.1-2017 section 8.3 TZ: std offset [dst [offset] [,start[/time],end[/time]]] (offsets west-positive). */
export function parsePosixTz(s: string): PosixRule {
  let i = 0;
  const name = () => {
    if (s[i] === '<') {
      const close = s.indexOf('>', i);
      if (close < 0) throw new Error(`TZ_RULE_INVALID: ${s}`);
      i = close + 1;
      return;
    }
    const m = /^[A-Za-z]{3,}/.exec(s.slice(i));
    if (!m) throw new Error(`TZ_RULE_INVALID: ${s}`);
    i += m[0].length;
  };
  /** [+-]hh[:mm[:ss]] in seconds */
  const duration = (): number => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(s.slice(i));
    if (!m) throw new Error(`TZ_RULE_INVALID: ${s}`);
    i += m[0].length;
    const v = Number(m[2]) * HOUR + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    return m[1] === '-' ? -v : v;
  };
  const date = (): RuleDate => {
    let d: RuleDate;
    const rest = s.slice(i);
    const mm = /^M(\d{1,2})\.(\d)\.(\d)/.exec(rest);
    const jn = /^(J?)(\d{1,3})/.exec(rest);
    if (mm) {
      d = { kind: 'M', month: Number(mm[1]), week: Number(mm[2]), weekday: Number(mm[3]), time: 2 * HOUR };
      i += mm[0].length;
    } else if (jn) {
      d = { kind: jn[1] ? 'J' : 'n', day: Number(jn[2]), time: 2 * HOUR };
      i += jn[0].length;
    } else throw new Error(`TZ_RULE_INVALID: ${s}`);
    if (s[i] === '/') {
      i++;
      d.time = duration();
    }
    return d;
  };
  name();
  const std = 0 - duration();
  if (i >= s.length) return { std };
  name();
  const dst = i < s.length && s[i] !== ',' ? 0 - duration() : std + HOUR;
  if (s[i] !== ',') return { std, dst };
  i++;
  const start = date();
  if (s[i] !== ',') throw new Error(`TZ_RULE_INVALID: ${s}`);
  i++;
  const end = date();
  return { std, dst, start, end };
}

const DAY_MS = 86_400_000;
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** local midnight (as a UTC-based ms count) of the rule's day in `year`, plus its time */
function ruleLocalMs(d: RuleDate, year: number): number {
  let day: number;
  if (d.kind === 'M') {
    const first = new Date(Date.UTC(year, d.month - 1, 1));
    const daysInMonth = new Date(Date.UTC(year, d.month, 0)).getUTCDate();
    let dom = 1 + ((d.weekday - first.getUTCDay() + 7) % 7) + (d.week - 1) * 7;
    while (dom > daysInMonth) dom -= 7;
    day = Date.UTC(year, d.month - 1, dom);
  } else if (d.kind === 'J') {
    day = Date.UTC(year, 0, 1) + (d.day - 1 + (isLeap(year) && d.day >= 60 ? 1 : 0)) * DAY_MS;
  } else day = Date.UTC(year, 0, 1) + d.day * DAY_MS;
  return day + d.time * 1000;
}

function ruleOffset(r: PosixRule, utcMs: number): number {
  if (r.dst === undefined || !r.start || !r.end) return r.std;
  const year = new Date(utcMs).getUTCFullYear();
  // DST starts at the start rule's local standard time and ends at the end rule's local daylight time
  const start = ruleLocalMs(r.start, year) - r.std * 1000;
  const end = ruleLocalMs(r.end, year) - r.dst * 1000;
  const inDst = start < end ? utcMs >= start && utcMs < end : !(utcMs >= end && utcMs < start);
  return inDst ? r.dst : r.std;
}

function offsetFromIntl(utcMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** UTC offset (ms, east positive, whole seconds) of the IANA zone at an instant: +3 600 000 for Paris in winter. */
export function zoneOffsetMs(utcMs: number, timeZone: string): number {
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return 0;
  const z = loadZone(timeZone);
  if (!z) return offsetFromIntl(utcMs, timeZone);
  const t = Math.floor(utcMs / 1000);
  const n = z.at.length;
  if (n === 0 || t < (z.at[0] ?? 0)) return (n === 0 && z.rule ? ruleOffset(z.rule, utcMs) : z.first) * 1000;
  if (t >= (z.at[n - 1] ?? 0) && z.rule) return ruleOffset(z.rule, utcMs) * 1000;
  let lo = 0;
  let hi = n - 1;
  // the last transition at or before t
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((z.at[mid] ?? 0) <= t) lo = mid;
    else hi = mid - 1;
  }
  return (z.offset[lo] ?? 0) * 1000;
}

/** Whether the name is an IANA zone this machine knows (its TZif file, else Intl). */
export function isKnownTimeZone(name: string): boolean {
  if (name === 'UTC' || name === 'Etc/UTC') return true;
  if (loadZone(name)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The machine's zone: $TZ (a zone name), else /etc/localtime's link into the tz database, else Intl's. */
export function systemTimeZone(): string {
  const tz = process.env.TZ?.replace(/^:/, '');
  if (tz && ZONE_NAME.test(tz) && loadZone(tz)) return tz;
  try {
    const target = readlinkSync('/etc/localtime');
    const m = /zoneinfo\/(.+)$/.exec(target);
    // the name Intl gives it (its canonical form): Etc/UTC and its aliases are "UTC"
    if (m?.[1] && /^(?:Etc\/)?(?:UTC|UCT|Universal|Zulu)$/.test(m[1])) return 'UTC';
    if (m?.[1] && loadZone(m[1])) return m[1];
  } catch {
    // not a link (or no file): ask Intl
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
