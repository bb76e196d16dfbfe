import { z } from 'zod';
import { both, describeReading, num, say, summaryOf } from '../messages';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({ lowAmber: z.number().default(3.9), lowRed: z.number().default(3.0), highAmber: z.number().default(13.9) })
  .strict();

/**
 * Default rule 12 (where measured): glucose < 3.9 mmol/L (70 mg/dL) amber, < 3.0 (54) red,
 * > 13.9 (250) amber. Source: ADA Standards of Care in Diabetes 2025, section 6, levels 1 and 2 (docs/clinical/rules.md).
 */
export const glucoseOutOfRange = defineMeasurementRule({
  id: 'glucose-out-of-range',
  title: 'Glucose below 3.9 (amber) or 3.0 mmol/L (red), or above 13.9 mmol/L (amber)',
  kind: 'threshold',
  source: 'ADA Standards of Care, section 6, level 1/2 hypoglycaemia (docs/clinical/rules.md #12)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'general_practitioner', 'pharmacist'],
  treatmentRelated: true,
  trigger: 'measurement',
  metrics: ['glucose'],
  evaluate(ctx, m): Evaluation {
    const r = m.readings.get('glucose');
    if (!r) return { outcome: 'skip' };
    const p = ctx.params;
    const base = { outcome: 'breach' as const, readingIds: [r.readingId], value: { glucose: r.value } };
    if (r.value < p.lowRed)
      return {
        ...base,
        severity: 'red',
        ...summaryOf(
          both((l) =>
            say(
              l,
              `Hypoglycaemia level 2: ${describeReading(r, l)} (< ${p.lowRed}). Call now: fast sugar, re-check in 15 min; review the treatment today.`,
              `Hypoglycémie de niveau 2 : ${describeReading(r, l)} (< ${num(p.lowRed, 1, l)}). Appeler maintenant : resucrage, contrôle à 15 min ; revoir le traitement aujourd'hui.`,
            ),
          ),
        ),
        interpretations: { [r.readingId]: 'LL' },
      };
    if (r.value < p.lowAmber)
      return {
        ...base,
        severity: 'amber',
        ...summaryOf(
          both((l) =>
            say(
              l,
              `Hypoglycaemia level 1: ${describeReading(r, l)} (< ${p.lowAmber}). Call: fast sugar, re-check in 15 min; treatment review.`,
              `Hypoglycémie de niveau 1 : ${describeReading(r, l)} (< ${num(p.lowAmber, 1, l)}). Appeler : resucrage, contrôle à 15 min ; revoir le traitement.`,
            ),
          ),
        ),
        interpretations: { [r.readingId]: 'L' },
      };
    if (r.value > p.highAmber)
      return {
        ...base,
        severity: 'amber',
        ...summaryOf(
          both((l) =>
            say(
              l,
              `High glucose: ${describeReading(r, l)} (> ${p.highAmber}). Call: symptoms, ketones if type 1; treatment review.`,
              `Hyperglycémie : ${describeReading(r, l)} (> ${num(p.highAmber, 1, l)}). Appeler : symptômes, cétones si type 1 ; revoir le traitement.`,
            ),
          ),
        ),
        interpretations: { [r.readingId]: 'H' },
      };
    return { outcome: 'normal' };
  },
});
