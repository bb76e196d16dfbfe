import { z } from 'zod';
import { confirmBloodPressure, valuesOf } from '../kinds/confirmed';
import { bloodPressureSummary, both, say, summaryOf } from '../messages';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({
    diastolic: z.number().default(110),
    /** at or above these the hypertensive-crisis rule owns the event (one event, one episode) */
    crisisSystolic: z.number().default(180),
    crisisDiastolic: z.number().default(120),
    minGapMinutes: z.number().nonnegative().default(1),
    confirmWithinMinutes: z.number().positive().default(30),
  })
  .strict();

/**
 * Grade 3 hypertension below crisis level: diastolic 110-119 mmHg (systolic under 180, which the
 * crisis rule covers), confirmed by a second reading -> amber, same-day review. One reading asks
 * for a re-measure; no re-measure at all -> amber follow-up.
 * Source: ESH 2023 guidelines, table of BP categories (grade 3: >= 180 and/or >= 110 mmHg)
 * (docs/clinical/rules.md#bp-grade-3).
 */
export const bpGrade3 = defineMeasurementRule({
  id: 'bp-grade-3',
  title: 'Grade 3 blood pressure: diastolic 110-119 mmHg, confirmed by a second reading',
  kind: 'confirmed-threshold',
  source: 'ESH 2023 arterial hypertension guidelines, BP categories (docs/clinical/rules.md)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic'],
  unconfirmed(p, value) {
    return {
      severity: 'amber',
      ...summaryOf(
        both((l) => {
          const bp = `${value.blood_pressure_systolic ?? '?'}/${value.blood_pressure_diastolic ?? '?'} mmHg`;
          return say(
            l,
            `Blood pressure ${bp} (diastolic ≥ ${p.diastolic}) not re-measured within ${p.confirmWithinMinutes} min: call the patient.`,
            `Tension ${bp} (diastolique ≥ ${p.diastolic}) non recontrôlée dans les ${p.confirmWithinMinutes} min : appeler le patient.`,
          );
        }),
      ),
    };
  },
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const grade3 = (v: Map<string, number>) => {
      const s = v.get('blood_pressure_systolic') ?? 0;
      const d = v.get('blood_pressure_diastolic') ?? 0;
      return d >= p.diastolic && d < p.crisisDiastolic && s < p.crisisSystolic;
    };
    const values = valuesOf(m);
    if (!values.has('blood_pressure_diastolic')) return { outcome: 'skip' };
    if (!grade3(values)) return { outcome: 'normal' };
    const c = await confirmBloodPressure(ctx, m, grade3, p);
    if (!c.confirmed) return c.remeasure;
    const { mine, other, value } = c;
    const ids = [...other.map((r) => r.readingId), ...mine.map((r) => r.readingId)];
    return {
      outcome: 'breach',
      severity: 'amber',
      readingIds: ids,
      value,
      ...bloodPressureSummary(values, m.measuredAt, (bp, l) =>
        say(
          l,
          `Grade 3 blood pressure confirmed: ${bp} (diastolic ≥ ${p.diastolic} twice). Same-day review of the treatment.`,
          `HTA de grade 3 confirmée : ${bp} (diastolique ≥ ${p.diastolic} deux fois). Revoir le traitement dans la journée.`,
        ),
      ),
      interpretations: Object.fromEntries(ids.map((id) => [id, 'H'])),
    };
  },
});
