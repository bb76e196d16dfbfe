import { z } from 'zod';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({ lowAmber: z.number().default(3.9), lowRed: z.number().default(3.0), highAmber: z.number().default(13.9) })
  .strict();

/**
 * Default rule 12 (where measured): glucose < 3.9 mmol/L (70 mg/dL) amber, < 3.0 (54) red,
 * > 13.9 (250) amber. Source: ADA Standards of Care section 6, level 1/2 (docs/clinical/rules.md #12).
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
        summary: `glucose < ${p.lowRed} mmol/L (level 2)`,
        interpretations: { [r.readingId]: 'LL' },
      };
    if (r.value < p.lowAmber)
      return {
        ...base,
        severity: 'amber',
        summary: `glucose < ${p.lowAmber} mmol/L (level 1)`,
        interpretations: { [r.readingId]: 'L' },
      };
    if (r.value > p.highAmber)
      return {
        ...base,
        severity: 'amber',
        summary: `glucose > ${p.highAmber} mmol/L`,
        interpretations: { [r.readingId]: 'H' },
      };
    return { outcome: 'normal' };
  },
});
