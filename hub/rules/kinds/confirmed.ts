import type { MetricName } from '../../../contract';
import type { HistoryRow } from '../history';
import type { Evaluation, FiledReading, Measurement, RuleContext } from '../rule';

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

const BP_METRICS: readonly MetricName[] = ['blood_pressure_systolic', 'blood_pressure_diastolic'];

/**
 * The confirmed-threshold step of the blood-pressure rules: the cuff readings of this measurement
 * and either the confirming earlier/later measurement, or the "please re-measure" outcome.
 */
export async function confirmBloodPressure(
  ctx: RuleContext<unknown>,
  m: Measurement,
  breaches: (values: Map<MetricName, number>) => boolean,
  p: { minGapMinutes: number; confirmWithinMinutes: number },
): Promise<
  | { confirmed: false; remeasure: Evaluation }
  | { confirmed: true; mine: FiledReading[]; other: HistoryRow[]; value: Record<string, number> }
> {
  const mine = [...m.readings.values()].filter((r) => BP_METRICS.includes(r.metric));
  const value = Object.fromEntries(mine.map((r) => [r.metric, r.value]));
  const other = await findConfirmation(
    ctx,
    m,
    BP_METRICS,
    breaches,
    p.minGapMinutes * 60_000,
    p.confirmWithinMinutes * 60_000,
  );
  if (!other)
    return {
      confirmed: false,
      remeasure: {
        outcome: 'remeasure',
        readingIds: mine.map((r) => r.readingId),
        value,
        expiresAt: new Date(m.measuredAt.getTime() + p.confirmWithinMinutes * 60_000),
      },
    };
  return { confirmed: true, mine, other, value };
}
