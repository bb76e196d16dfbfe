import { z } from 'zod';
import { HOUR } from '../clock';
import { findConfirmation } from '../kinds/confirmed';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({
    once: z.number().default(38.3),
    sustained: z.number().default(38.0),
    minGapHours: z.number().nonnegative().default(1),
    confirmWithinHours: z.number().positive().default(4),
  })
  .strict();

/**
 * Default rule 10 (oral chemotherapy): temperature >= 38.3 C once, or >= 38.0 C on 2 readings
 * >= 1 h apart -> red, immediate. Source: IDSA febrile neutropenia definition (clinical-rules.md #10).
 */
export const febrileNeutropenia = defineMeasurementRule({
  id: 'chemo-fever',
  title: 'Fever on oral chemotherapy: >= 38.3 C once or >= 38.0 C twice at least 1 h apart',
  kind: 'confirmed-threshold',
  source: 'IDSA febrile neutropenia definition (clinical-rules.md #10)',
  programs: ['oral_chemotherapy'],
  params,
  priority: 'stat',
  notify: ['coordinating_nurse', 'oncologist', 'general_practitioner', 'pharmacist'],
  treatmentRelated: true,
  trigger: 'measurement',
  metrics: ['body_temperature'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const r = m.readings.get('body_temperature');
    if (!r) return { outcome: 'skip' };
    const p = ctx.params;
    if (r.value >= p.once) {
      return {
        outcome: 'breach',
        severity: 'red',
        readingIds: [r.readingId],
        value: { body_temperature: r.value },
        summary: `temperature >= ${p.once} C`,
        interpretations: { [r.readingId]: 'HH' },
      };
    }
    if (r.value < p.sustained) return { outcome: 'normal' };
    const other = await findConfirmation(
      ctx,
      m,
      ['body_temperature'],
      (v) => (v.get('body_temperature') ?? 0) >= p.sustained,
      p.minGapHours * HOUR,
      p.confirmWithinHours * HOUR,
    );
    if (!other)
      return {
        outcome: 'remeasure',
        readingIds: [r.readingId],
        value: { body_temperature: r.value },
        expiresAt: new Date(r.measuredAt.getTime() + p.confirmWithinHours * HOUR),
      };
    const ids = [...other.map((o) => o.readingId), r.readingId];
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: ids,
      value: { body_temperature: r.value, previous: other[0].value },
      summary: `temperature >= ${p.sustained} C on two readings >= ${p.minGapHours} h apart`,
      interpretations: Object.fromEntries(ids.map((id) => [id, 'H'])),
    };
  },
});
