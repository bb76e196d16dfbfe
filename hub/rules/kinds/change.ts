import type { HistoryRow } from '../history';
import type { Measurement, RuleContext } from '../rule';

/**
 * Daily weigh-ins drift by minutes to hours: "over 3 days" must include the weigh-in of 3 days
 * ago even when it was taken a little later in the day than today's (72 h 5 min earlier).
 */
export const DAILY_MEASUREMENT_SLACK_MS = 6 * 3_600_000;

/**
 * Change over a window: the new reading minus the lowest (direction up) or highest (direction
 * down) earlier reading of the same metric within `windowMs` (plus the daily slack) before it.
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
  const earlier = (
    await ctx.history.readings(
      m.patientId,
      [metric],
      new Date(t - windowMs - DAILY_MEASUREMENT_SLACK_MS),
      new Date(t - 1),
    )
  ).filter((r) => r.measuredAt.getTime() < t);
  if (earlier.length === 0) return null;
  const reference = earlier.reduce((best, r) =>
    direction === 'up' ? (r.value < best.value ? r : best) : r.value > best.value ? r : best,
  );
  return { delta: Math.round((current.value - reference.value) * 1000) / 1000, reference };
}
