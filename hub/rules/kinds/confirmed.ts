import type { MetricName } from '../../../contract';
import type { HistoryRow } from '../history';
import type { Measurement, RuleContext } from '../rule';

/** Values of a measurement by metric. */
export function valuesOf(m: Measurement): Map<MetricName, number> {
  return new Map([...m.readings].map(([k, r]) => [k, r.value]));
}

/**
 * Confirmed threshold: looks in the stored history for another out-of-range measurement at least
 * `minGapMs` and at most `maxSpanMs` away (before or after: readings flushed out of order confirm
 * the same way, so every hub instance reaches the same result). Returns its readings, or null.
 */
export async function findConfirmation(
  ctx: RuleContext<unknown>,
  m: Measurement,
  metrics: readonly MetricName[],
  breaches: (values: Map<MetricName, number>) => boolean,
  minGapMs: number,
  maxSpanMs: number,
): Promise<[HistoryRow, ...HistoryRow[]] | null> {
  const t = m.measuredAt.getTime();
  const rows = await ctx.history.readings(m.patientId, metrics, new Date(t - maxSpanMs), new Date(t + maxSpanMs));
  const byTime = new Map<number, [HistoryRow, ...HistoryRow[]]>();
  for (const r of rows) {
    const k = r.measuredAt.getTime();
    if (Math.abs(k - t) < minGapMs) continue;
    const group = byTime.get(k);
    if (group) group.push(r);
    else byTime.set(k, [r]);
  }
  const candidates = [...byTime].sort((a, b) => Math.abs(a[0] - t) - Math.abs(b[0] - t));
  for (const [, group] of candidates) {
    if (breaches(new Map(group.map((r) => [r.metric, r.value])))) return group;
  }
  return null;
}
