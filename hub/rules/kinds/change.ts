import { careLocalDay } from '../messages';
import type { HistoryRow } from '../history';
import type { Measurement, RuleContext } from '../rule';
import { DAY } from '../clock';

/**
 * Daily weigh-ins drift by minutes to hours: "over 3 days" must include the weigh-in of 3 days
 * ago even when it was taken a little later in the day than today's (72 h 5 min earlier).
 */
export const DAILY_MEASUREMENT_SLACK_MS = 6 * 3_600_000;

const localDay = careLocalDay;

/**
 * Protocol readings (ESC/HFA self-care: weigh on waking, after voiding, before breakfast): only
 * the first weigh-in of each local day counts; a second one the same day (dressed, after
 * breakfast) is not a new measurement of fluid status.
 */
export function firstOfDay(rows: readonly HistoryRow[]): HistoryRow[] {
  const seen = new Set<string>();
  const out: HistoryRow[] = [];
  for (const r of [...rows].sort((a, b) => a.measuredAt.getTime() - b.measuredAt.getTime())) {
    const d = localDay(r.measuredAt);
    if (seen.has(d)) continue;
    seen.add(d);
    out.push(r);
  }
  return out;
}

/** Whether the measurement is its local day's first weigh-in (the protocol reading). */
export async function isProtocolWeight(ctx: RuleContext<unknown>, m: Measurement): Promise<boolean> {
  const t = m.measuredAt.getTime();
  const sameDay = await ctx.history.readings(m.patientId, ['body_weight'], new Date(t - DAY), new Date(t - 1));
  const day = localDay(m.measuredAt);
  return !sameDay.some((r) => r.measuredAt.getTime() < t && localDay(r.measuredAt) === day);
}

/**
 * Change over a window: the new reading minus the lowest (direction up) or highest (direction
 * down) earlier protocol reading of the same metric within `windowMs` (plus the daily slack).
 * Null when there is no earlier reading in the window (not enough data: neither breach nor normal).
 */
export async function changeOverWindow(
  ctx: RuleContext<unknown>,
  m: Measurement,
  metric: 'body_weight',
  windowMs: number,
  direction: 'up' | 'down',
): Promise<{ delta: number; reference: HistoryRow } | null> {
  const current = m.readings.get(metric);
  if (!current) return null;
  const t = m.measuredAt.getTime();
  const earlier = firstOfDay(
    await ctx.history.readings(
      m.patientId,
      [metric],
      new Date(t - windowMs - DAILY_MEASUREMENT_SLACK_MS),
      new Date(t - 1),
    ),
  ).filter((r) => r.measuredAt.getTime() < t && localDay(r.measuredAt) !== localDay(m.measuredAt));
  if (earlier.length === 0) return null;
  const reference = earlier.reduce((best, r) =>
    direction === 'up' ? (r.value < best.value ? r : best) : r.value > best.value ? r : best,
  );
  return { delta: Math.round((current.value - reference.value) * 1000) / 1000, reference };
}

/**
 * Personal baseline weight learnt from a stable period: the median of the protocol weigh-ins of
 * the `days` before `before` (at least `minDays` of them), robust to gaps and to single outliers.
 */
export async function learntBaseline(
  ctx: RuleContext<unknown>,
  patientId: string,
  before: Date,
  days: number,
  minDays: number,
): Promise<number | null> {
  const rows = firstOfDay(
    await ctx.history.readings(patientId, ['body_weight'], new Date(before.getTime() - days * DAY), before),
  );
  if (rows.length < minDays) return null;
  const v = rows.map((r) => r.value).sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  const hi = v[mid] ?? 0;
  return v.length % 2 ? hi : ((v[mid - 1] ?? hi) + hi) / 2;
}
