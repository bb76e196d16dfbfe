import { METRICS, type MetricName } from '../../contract';

/**
 * The metric each threshold parameter of the catalog compares readings with. A program threshold
 * must lie inside the range the hub accepts for that metric (contract/metrics.ts): a threshold a
 * reading can never reach would silently switch the rule off (THRESHOLD_OUT_OF_RANGE).
 */
export const THRESHOLD_METRICS: Readonly<Record<string, Readonly<Record<string, MetricName>>>> = {
  'spo2-low': { below: 'spo2', belowChronicLungDisease: 'spo2' },
  'sepsis-red-flags': { heartRateAbove: 'heart_rate', systolicAtOrBelow: 'blood_pressure_systolic' },
  'bp-hypertensive-crisis': { systolic: 'blood_pressure_systolic', diastolic: 'blood_pressure_diastolic' },
  'bp-grade-3': {
    diastolic: 'blood_pressure_diastolic',
    crisisSystolic: 'blood_pressure_systolic',
    crisisDiastolic: 'blood_pressure_diastolic',
  },
  'bp-home-mean-7d': { systolic: 'blood_pressure_systolic', diastolic: 'blood_pressure_diastolic' },
  'chemo-fever': { once: 'body_temperature', sustained: 'body_temperature' },
  'glucose-out-of-range': { lowAmber: 'glucose', lowRed: 'glucose', highAmber: 'glucose' },
};

/** Issues of the thresholds of one rule's parameters (empty: all inside their metric's range). */
export function thresholdIssues(ruleId: string, params: Record<string, unknown>): string[] {
  const map = THRESHOLD_METRICS[ruleId] ?? {};
  const out: string[] = [];
  for (const [param, metric] of Object.entries(map)) {
    const v = params[param];
    if (typeof v !== 'number') continue;
    const [lo, hi] = METRICS[metric].range;
    if (v < lo || v > hi)
      out.push(
        `rules.${ruleId}.params.${param}: ${String(v)} is outside ${metric}'s range ${String(lo)}-${String(hi)}`,
      );
  }
  return out;
}
