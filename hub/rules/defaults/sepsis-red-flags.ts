import { z } from 'zod';
import type { Evaluation, Interpretation } from '../rule';
import { defineMeasurementRule } from '../rule';

const params = z.object({ heartRateAbove: z.number().default(130), systolicBelow: z.number().default(90) }).strict();

/**
 * Default rule 2: resting heart rate > 130 /min, or systolic < 90 mmHg -> red, on one reading.
 * Source: UK Sepsis Trust red flags (clinical-rules.md #2).
 */
export const sepsisRedFlags = defineMeasurementRule({
  id: 'sepsis-red-flags',
  title: 'Heart rate above 130 /min or systolic below 90 mmHg',
  kind: 'threshold',
  source: 'UK Sepsis Trust red flags (clinical-rules.md #2)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'oncologist', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['heart_rate', 'blood_pressure_systolic'],
  evaluate(ctx, m): Evaluation {
    const hr = m.readings.get('heart_rate');
    const sys = m.readings.get('blood_pressure_systolic');
    const hits: { id: string; metric: string; value: number; i: Interpretation }[] = [];
    if (hr && hr.value > ctx.params.heartRateAbove)
      hits.push({ id: hr.readingId, metric: hr.metric, value: hr.value, i: 'HH' });
    if (sys && sys.value < ctx.params.systolicBelow)
      hits.push({ id: sys.readingId, metric: sys.metric, value: sys.value, i: 'LL' });
    if (hits.length === 0) return { outcome: 'normal' };
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: hits.map((h) => h.id),
      value: Object.fromEntries(hits.map((h) => [h.metric, h.value])),
      summary: hits
        .map((h) =>
          h.metric === 'heart_rate'
            ? `heart rate > ${ctx.params.heartRateAbove} /min`
            : `systolic < ${ctx.params.systolicBelow} mmHg`,
        )
        .join(', '),
      interpretations: Object.fromEntries(hits.map((h) => [h.id, h.i])),
    };
  },
});
