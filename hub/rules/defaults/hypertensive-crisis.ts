import { z } from 'zod';
import { MINUTE } from '../clock';
import { findConfirmation, valuesOf } from '../kinds/confirmed';
import { describeBloodPressure } from '../messages';
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
      summary: `blood pressure ${bp} mmHg not re-measured within ${p.confirmWithinMinutes} min: call the patient`,
    };
  },
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const breaches = (v: Map<string, number>) =>
      (v.get('blood_pressure_systolic') ?? 0) >= p.systolic || (v.get('blood_pressure_diastolic') ?? 0) >= p.diastolic;
    const values = valuesOf(m);
    if (!breaches(values)) return { outcome: 'normal' };
    const mine = [...m.readings.values()].filter(
      (r) => r.metric === 'blood_pressure_systolic' || r.metric === 'blood_pressure_diastolic',
    );
    const value = Object.fromEntries(mine.map((r) => [r.metric, r.value]));
    const other = await findConfirmation(
      ctx,
      m,
      ['blood_pressure_systolic', 'blood_pressure_diastolic'],
      breaches,
      p.minGapMinutes * MINUTE,
      p.confirmWithinMinutes * MINUTE,
    );
    if (!other)
      return {
        outcome: 'remeasure',
        readingIds: mine.map((r) => r.readingId),
        value,
        expiresAt: new Date(m.measuredAt.getTime() + p.confirmWithinMinutes * MINUTE),
      };
    const all = [...other.map((r) => ({ readingId: r.readingId, metric: r.metric, value: r.value })), ...mine];
    return {
      outcome: 'breach',
      severity: 'red',
      readingIds: all.map((r) => r.readingId),
      value,
      summary: `Hypertensive crisis confirmed: ${describeBloodPressure(values.get('blood_pressure_systolic'), values.get('blood_pressure_diastolic'), m.measuredAt, values.get('heart_rate'))} (≥ ${p.systolic} systolic or ≥ ${p.diastolic} diastolic twice). Call now: chest pain, breathlessness or neurological signs -> emergency services.`,
      interpretations: Object.fromEntries(
        all.map((r) => [
          r.readingId,
          (r.metric === 'blood_pressure_systolic' ? r.value >= p.systolic : r.value >= p.diastolic) ? 'HH' : 'H',
        ]),
      ),
    };
  },
});
