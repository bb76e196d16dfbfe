import { z } from 'zod';
import { MINUTE } from '../clock';
import { findConfirmation } from '../kinds/confirmed';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({
    below: z.number().default(92),
    /** threshold for patients with chronic lung disease */
    belowChronicLungDisease: z.number().default(88),
    minGapMinutes: z.number().nonnegative().default(15),
    confirmWithinMinutes: z.number().positive().default(240),
  })
  .strict();

/**
 * Default rule 1: SpO2 < 92 % (88 % with chronic lung disease) on 2 readings >= 15 min apart -> red.
 * Source: home COVID cohorts (7x hospitalisation risk); UK Sepsis Trust red flags (clinical-rules.md #1).
 */
export const spo2Low = defineMeasurementRule({
  id: 'spo2-low',
  title: 'SpO2 below 92 % (88 % with chronic lung disease) on 2 readings at least 15 min apart',
  kind: 'confirmed-threshold',
  source: 'Home COVID cohorts; UK Sepsis Trust red flags (clinical-rules.md #1)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'oncologist', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['spo2'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const r = m.readings.get('spo2');
    if (!r) return { outcome: 'skip' };
    const limit = ctx.patient.chronicLungDisease ? ctx.params.belowChronicLungDisease : ctx.params.below;
    if (r.value >= limit) return { outcome: 'normal' };
    const other = await findConfirmation(
      ctx,
      m,
      ['spo2'],
      (v) => (v.get('spo2') ?? 100) < limit,
      ctx.params.minGapMinutes * MINUTE,
      ctx.params.confirmWithinMinutes * MINUTE,
    );
    if (!other)
      return {
        outcome: 'remeasure',
        readingIds: [r.readingId],
        value: { spo2: r.value },
        expiresAt: new Date(r.measuredAt.getTime() + ctx.params.confirmWithinMinutes * MINUTE),
      };
    const ids = [...other.map((o) => o.readingId), r.readingId];
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: ids,
      value: { spo2: r.value, previous: other[0].value },
      summary: `SpO2 below ${limit} % on two readings`,
      interpretations: Object.fromEntries(ids.map((id) => [id, 'LL'])),
    };
  },
});
