import { z } from 'zod';
import { HOUR } from '../clock';
import { findConfirmation } from '../kinds/confirmed';
import { both, describeReading, num, say, summaryOf } from '../messages';
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
 * >= 1 h apart -> red, immediate. Source: IDSA 2010 / ESMO 2016 febrile neutropenia definition (docs/clinical/rules.md).
 */
export const febrileNeutropenia = defineMeasurementRule({
  id: 'chemo-fever',
  title: 'Fever on oral chemotherapy: >= 38.3 C once or >= 38.0 C twice at least 1 h apart',
  kind: 'confirmed-threshold',
  source: 'IDSA 2010 / ESMO 2016 febrile neutropenia definition (docs/clinical/rules.md)',
  programs: ['oral_chemotherapy'],
  params,
  priority: 'stat',
  notify: ['coordinating_nurse', 'oncologist', 'general_practitioner', 'pharmacist'],
  treatmentRelated: true,
  trigger: 'measurement',
  metrics: ['body_temperature'],
  unconfirmed(p, value) {
    return {
      severity: 'amber',
      ...summaryOf(
        both((l) => {
          const t = value.body_temperature === undefined ? '?' : num(value.body_temperature, 1, l);
          return say(
            l,
            `Temperature ${t} °C (≥ ${p.sustained}) not re-measured within ${p.confirmWithinHours} h: call the patient.`,
            `Température ${t} °C (≥ ${num(p.sustained, 1, l)}) non recontrôlée dans les ${p.confirmWithinHours} h : appeler le patient.`,
          );
        }),
      ),
    };
  },
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
        ...summaryOf(
          both((l) =>
            say(
              l,
              `Fever on chemotherapy: ${describeReading(r, l)} (≥ ${p.once}). Call now: same-day assessment for neutropenic sepsis.`,
              `Fièvre sous chimiothérapie : ${describeReading(r, l)} (≥ ${num(p.once, 1, l)}). Appeler maintenant : évaluation le jour même (neutropénie fébrile).`,
            ),
          ),
        ),
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
    const [previous] = other;
    const ids = [...other.map((o) => o.readingId), r.readingId];
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: ids,
      value: { body_temperature: r.value, previous: previous.value },
      ...summaryOf(
        both((l) => {
          const before = describeReading(previous, l);
          return say(
            l,
            `Fever on chemotherapy: ${describeReading(r, l)} and ${before} (≥ ${p.sustained} twice, ≥ ${p.minGapHours} h apart). Call now: same-day assessment for neutropenic sepsis.`,
            `Fièvre sous chimiothérapie : ${describeReading(r, l)} et ${before} (≥ ${num(p.sustained, 1, l)} deux fois, à ≥ ${p.minGapHours} h d'intervalle). Appeler maintenant : évaluation le jour même (neutropénie fébrile).`,
          );
        }),
      ),
      interpretations: Object.fromEntries(ids.map((id) => [id, 'H'])),
    };
  },
});
