import { createHash } from 'node:crypto';
import { readingId, type Clock, type Reading, type TimeTrust } from '../../contract';
import type { Measurement } from '../../drivers';
import { localToUtc, zoneOffsetAt } from '../time/local-time';

/** Device clock further than this from the gateway clock is not trusted (ble-field-notes: unset clocks read 2000-01-01). */
export const MAX_TRUSTED_CLOCK_OFFSET_MS = 24 * 3_600_000;
/** A measurement dated later than reception (after clock correction) by more than this is flagged. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** Device clocks reset to their epoch (2000-01-01, 2010-01-01, 1970) read earlier than this year: unset. */
const FIRST_PLAUSIBLE_YEAR = 2015;
/** Without a measured offset, a stored record older than this is more likely a wrong clock than memory. */
const MAX_RECORD_AGE_MS = 400 * 24 * 3_600_000;

/**
 * Most cuffs and scales keep local time but do not change it for DST: after the change their
 * clock is off by exactly the zone's shift. A stamp taken before the change was right then, and
 * correcting it by the offset would move it by an hour (Gadgetbridge #869). Detected when the
 * measured offset equals (within 2 min) minus the zone's offset change since the stamp.
 */
function dstNotFollowed(
  stampUtc: Date,
  offsetMs: number,
  ctx: Pick<ReadingContext, 'timeZone' | 'receivedAt'>,
): boolean {
  const shift = zoneOffsetAt(ctx.receivedAt, ctx.timeZone) - zoneOffsetAt(stampUtc, ctx.timeZone);
  return shift !== 0 && Math.abs(offsetMs + shift) <= 120_000;
}

export type ClockVerdict = 'ok' | 'clock_unset' | 'clock_untrusted' | 'clock_in_future';

/**
 * Whether a device time stamp can date a reading (ble-field-notes "clocks"): a clock never set
 * (year before 2015), a clock further than 24 h from the gateway's at connection, a time stamp
 * later than reception after correction, or (no offset measured) older than 400 days is not
 * believed; the reading is then dated on reception and flagged.
 */
export function clockVerdict(
  deviceTime: string,
  ctx: Pick<ReadingContext, 'clockOffsetMs' | 'timeZone' | 'receivedAt'>,
): ClockVerdict {
  if (Number(deviceTime.slice(0, 4)) < FIRST_PLAUSIBLE_YEAR) return 'clock_unset';
  const offset = ctx.clockOffsetMs ?? 0;
  if (Math.abs(offset) > MAX_TRUSTED_CLOCK_OFFSET_MS) return 'clock_untrusted';
  const corrected = localToUtc(deviceTime, ctx.timeZone).getTime() - offset;
  if (corrected > ctx.receivedAt.getTime() + FUTURE_TOLERANCE_MS) return 'clock_in_future';
  if (ctx.clockOffsetMs === undefined && corrected < ctx.receivedAt.getTime() - MAX_RECORD_AGE_MS)
    return 'clock_untrusted';
  return 'ok';
}

/** contract/reading.ts timeTrust: what dated the reading. */
function timeTrustOf(clock: Clock | undefined, measuredOffsetMs: number | undefined): TimeTrust {
  if (!clock?.trusted) return 'receipt';
  if (measuredOffsetMs === undefined) return 'device_unchecked';
  return Math.abs(measuredOffsetMs) < 60_000 ? 'device_synced' : 'device_corrected';
}

export interface ReadingContext {
  gatewayId: string;
  address: string;
  driver: string;
  timeZone: string;
  /** device clock minus gateway clock measured at connection (Current Time read), when known */
  clockOffsetMs?: number | undefined;
  receivedAt: Date;
  /** raw bytes the measurement came from: identifies a reading that has no time and no sequence */
  raw: Uint8Array;
}

/**
 * Turns a decoded measurement into a wire reading: canonical value and unit as decoded, the
 * device time kept as sent, measuredAt in UTC corrected by the measured clock offset, and a
 * deterministic id so re-indicated or re-synced copies are the same reading.
 */
export function toReading(m: Measurement, ctx: ReadingContext): Reading {
  const flags = new Set(m.flags ?? []);
  let measuredAt = ctx.receivedAt;
  let clock: Clock | undefined;
  if (m.deviceTime !== undefined) {
    const offset = ctx.clockOffsetMs ?? 0;
    const verdict = clockVerdict(m.deviceTime, ctx);
    clock = { offsetMs: Math.round(offset), trusted: verdict === 'ok' };
    if (verdict === 'ok') {
      const local = localToUtc(m.deviceTime, ctx.timeZone);
      if (dstNotFollowed(local, offset, ctx)) {
        // the offset is the DST change the device did not make: its stamp was right when taken
        flags.add('clock_dst_not_followed');
        measuredAt = local;
      } else measuredAt = new Date(local.getTime() - offset);
    } else flags.add(verdict);
  }
  const device = { address: ctx.address, driver: ctx.driver };
  const captureKey = createHash('sha256')
    .update(ctx.raw)
    .update(m.deviceTime === undefined && m.sequence === undefined ? ctx.receivedAt.toISOString().slice(0, 16) : '')
    .digest('hex');
  const reading: Reading = {
    id: readingId({
      device,
      metric: m.metric,
      userIndex: m.userIndex,
      deviceTime: m.deviceTime,
      sequence: m.sequence,
      captureKey,
      value: m.value,
    }),
    gatewayId: ctx.gatewayId,
    device,
    metric: m.metric,
    value: m.value,
    unit: m.unit,
    measuredAt: measuredAt.toISOString(),
    flags: [...flags],
  };
  if (m.deviceUnit !== undefined) reading.deviceUnit = m.deviceUnit;
  if (m.deviceTime !== undefined) reading.deviceTime = m.deviceTime;
  if (m.sequence !== undefined) reading.sequence = m.sequence;
  if (m.userIndex !== undefined) reading.userIndex = m.userIndex;
  if (clock) reading.clock = clock;
  reading.timeTrust = timeTrustOf(clock, ctx.clockOffsetMs);
  return reading;
}
