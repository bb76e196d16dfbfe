import { z } from 'zod';
import { confirmBloodPressure, valuesOf } from '../kinds/confirmed';
import { bloodPressureSummary, both, say, summaryOf } from '../messages';
import { defineMeasurementRule, type Evaluation } from '../rule';

const params = z
  .object({
    systolic: z.number().default(180),
    diastolic: z.number().default(120),
    /** "ask to re-measure after 1-2 min" */
    minGapMinutes: z.number().nonnegative().default(1),
    confirmWithinMinutes: z.number().positive().default(30),
    /**
     * a crisis reading never re-measured within confirmWithinMinutes: the patient may not have
     * seen the request, or may be unwell; an amber episode makes the nurse call (program setting)
     */
    unconfirmedFollowUp: z.enum(['amber', 'none']).default('amber'),
  })
  .strict();

/**
 * Default rule 5: a reading with systolic >= 180 or diastolic >= 120 mmHg asks the patient to
 * re-measure after 1-2 min; a second such reading confirms it -> red. A normal re-measure clears
 * the request; no re-measure at all within the window -> amber follow-up (unconfirmedFollowUp).
 * Source: AHA hypertensive crisis guidance (docs/clinical/rules.md, rule 5).
 */
export const hypertensiveCrisis = defineMeasurementRule({
  id: 'bp-hypertensive-crisis',
  title: 'Hypertensive crisis: systolic >= 180 or diastolic >= 120 mmHg, confirmed by a second reading',
  kind: 'confirmed-threshold',
  source: 'AHA hypertensive crisis guidance (docs/clinical/rules.md #5)',
  programs: 'all',
  params,
  priority: 'stat',
  notify: ['coordinating_nurse', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic'],
  unconfirmed(p, value) {
    if (p.unconfirmedFollowUp === 'none') return undefined;
    const bp = `${value.blood_pressure_systolic ?? '?'}/${value.blood_pressure_diastolic ?? '?'}`;
    return {
      severity: 'amber',
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Blood pressure ${bp} mmHg not re-measured within ${p.confirmWithinMinutes} min: call the patient.`,
            `Tension ${bp} mmHg non recontrôlée dans les ${p.confirmWithinMinutes} min : appeler le patient.`,
          ),
        ),
      ),
    };
  },
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const breaches = (v: Map<string, number>) =>
      (v.get('blood_pressure_systolic') ?? 0) >= p.systolic || (v.get('blood_pressure_diastolic') ?? 0) >= p.diastolic;
    const values = valuesOf(m);
    if (!breaches(values)) return { outcome: 'normal' };
    const c = await confirmBloodPressure(ctx, m, breaches, p);
    if (!c.confirmed) return c.remeasure;
    const { mine, other, value } = c;
    const all = [...other.map((r) => ({ readingId: r.readingId, metric: r.metric, value: r.value })), ...mine];
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: all.map((r) => r.readingId),
      value,
      ...bloodPressureSummary(values, m.measuredAt, (bp, l) =>
        say(
          l,
          `Hypertensive crisis confirmed: ${bp} (≥ ${p.systolic} systolic or ≥ ${p.diastolic} diastolic twice). Call now: chest pain, breathlessness or neurological signs -> emergency services (15/112).`,
          `Poussée hypertensive sévère confirmée : ${bp} (systolique ≥ ${p.systolic} ou diastolique ≥ ${p.diastolic} deux fois). Appeler maintenant : douleur thoracique, essoufflement ou signe neurologique -> SAMU (15).`,
        ),
      ),
      interpretations: Object.fromEntries(
        all.map((r) => [
          r.readingId,
          (r.metric === 'blood_pressure_systolic' ? r.value >= p.systolic : r.value >= p.diastolic) ? 'HH' : 'H',
        ]),
      ),
    };
  },
});
