import { z } from 'zod';
import { MINUTE } from '../clock';
import { findConfirmation } from '../kinds/confirmed';
import { both, describeReading, say, summaryOf, type Locale } from '../messages';
import type { Evaluation, Interpretation } from '../rule';
import { defineMeasurementRule } from '../rule';

const params = z
  .object({
    heartRateAbove: z.number().default(130),
    /** UK Sepsis Trust red flag: systolic 90 mmHg or less */
    systolicAtOrBelow: z.number().default(90),
    /**
     * patients known to run low (vasodilators, advanced heart failure): one low systolic asks for a
     * re-measure, a second one confirms (set by the care team per patient)
     */
    confirmLowSystolic: z.boolean().default(false),
    minGapMinutes: z.number().nonnegative().default(1),
    confirmWithinMinutes: z.number().positive().default(30),
  })
  .strict();

/**
 * Sepsis red flags measurable at home: heart rate above 130 /min, or systolic 90 mmHg or less
 * -> red on one reading; for patients whose team set confirmLowSystolic, a low systolic needs a
 * second reading (a normal re-measure clears it; none at all opens an amber follow-up).
 * Source: UK Sepsis Trust red flags (docs/clinical/rules.md#sepsis-red-flags).
 */
export const sepsisRedFlags = defineMeasurementRule({
  id: 'sepsis-red-flags',
  title: 'Heart rate above 130 /min or systolic 90 mmHg or less',
  kind: 'threshold',
  source: 'UK Sepsis Trust, Sepsis Screening and Action Tool, red flags (docs/clinical/rules.md)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'oncologist', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['heart_rate', 'blood_pressure_systolic'],
  unconfirmed(p, value) {
    return {
      severity: 'amber',
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Systolic ${value.blood_pressure_systolic ?? '?'} mmHg (≤ ${p.systolicAtOrBelow}) not re-measured within ${p.confirmWithinMinutes} min: call the patient.`,
            `Systolique ${value.blood_pressure_systolic ?? '?'} mmHg (≤ ${p.systolicAtOrBelow}) non recontrôlée dans les ${p.confirmWithinMinutes} min : appeler le patient.`,
          ),
        ),
      ),
    };
  },
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const hr = m.readings.get('heart_rate');
    const sys = m.readings.get('blood_pressure_systolic');
    const hits: { id: string; metric: string; value: number; i: Interpretation; text: (l: Locale) => string }[] = [];
    if (hr && hr.value > p.heartRateAbove)
      hits.push({
        id: hr.readingId,
        metric: hr.metric,
        value: hr.value,
        i: 'HH',
        text: (l) => `${describeReading(hr, l)} (> ${p.heartRateAbove})`,
      });
    if (sys && sys.value <= p.systolicAtOrBelow) {
      const low = (v: Map<string, number>) => (v.get('blood_pressure_systolic') ?? 999) <= p.systolicAtOrBelow;
      const confirmed =
        !p.confirmLowSystolic ||
        (await findConfirmation(
          ctx,
          m,
          ['blood_pressure_systolic'],
          low,
          p.minGapMinutes * MINUTE,
          p.confirmWithinMinutes * MINUTE,
        )) !== null;
      if (confirmed)
        hits.push({
          id: sys.readingId,
          metric: sys.metric,
          value: sys.value,
          i: 'LL',
          text: (l) =>
            `${describeReading(sys, l)} (≤ ${p.systolicAtOrBelow})${hr ? `, ${say(l, 'pulse', 'pouls')} ${Math.round(hr.value)} /min` : ''}`,
        });
      else if (hits.length === 0)
        return {
          outcome: 'remeasure',
          readingIds: [sys.readingId],
          value: { blood_pressure_systolic: sys.value },
          expiresAt: new Date(m.measuredAt.getTime() + p.confirmWithinMinutes * MINUTE),
        };
    }
    if (hits.length === 0) return { outcome: 'normal' };
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: hits.map((h) => h.id),
      value: Object.fromEntries(hits.map((h) => [h.metric, h.value])),
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Sepsis red flag: ${hits.map((h) => h.text(l)).join('; ')}. Call the patient now; if unwell, emergency assessment.`,
            `Signe de gravité (sepsis) : ${hits.map((h) => h.text(l)).join(' ; ')}. Appeler le patient maintenant ; s'il va mal, évaluation en urgence.`,
          ),
        ),
      ),
      interpretations: Object.fromEntries(hits.map((h) => [h.id, h.i])),
    };
  },
});
