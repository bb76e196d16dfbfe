import type { Reading, TimeTrust } from '../../contract';

/**
 * How far a reading's measuredAt can be believed. Gateways that predate the timeTrust field send
 * only `clock`: a trusted device clock is then "unchecked" (no way to know whether an offset was
 * measured), no device time or an untrusted one means the time is the gateway's reception time.
 */
export function timeTrustOf(r: Pick<Reading, 'timeTrust' | 'clock'>): TimeTrust {
  if (r.timeTrust) return r.timeTrust;
  if (!r.clock?.trusted) return 'receipt';
  return 'device_unchecked';
}

/** Readings dated by reception: a clockless device's memory re-sent later gets a new, wrong time. */
export const isReceiptTimed = (t: TimeTrust | null | undefined): boolean => t === 'receipt';
