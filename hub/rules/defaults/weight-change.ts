import { z } from 'zod';
import { DAY } from '../clock';
import { changeOverWindow, isProtocolWeight, learntBaseline } from '../kinds/change';
import { both, clinicalTime, num, say, summaryOf, type Text } from '../messages';
import type { HistoryRow } from '../history';
import { defineMeasurementRule, type Evaluation, type Measurement } from '../rule';

/** An amber weight-change breach: the reference and the new weigh-in, flagged high or low. */
function weightBreach(
  m: Measurement,
  c: { delta: number; reference: HistoryRow },
  finding: Text,
  interpretation: 'H' | 'L',
  action: Text,
): Evaluation {
  const cur = m.readings.get('body_weight');
  if (!cur) throw new Error('a weight breach is evaluated on a measurement holding body_weight');
  const sign = c.delta > 0 ? '+' : '−';
  return {
    outcome: 'breach',
    severity: 'amber',
    readingIds: [c.reference.readingId, cur.readingId],
    value: { body_weight: cur.value, deltaKg: c.delta },
    ...summaryOf(
      both(
        (l) =>
          `${say(l, 'Weight', 'Poids')} ${num(cur.value, 1, l)} kg ${say(l, 'on', 'le')} ${clinicalTime(m.measuredAt, l)}, ${sign}${num(Math.abs(c.delta), 1, l)} kg ${finding[l]} (${num(c.reference.value, 1, l)} kg ${say(l, 'on', 'le')} ${clinicalTime(c.reference.measuredAt, l)}). ${action[l]}`,
      ),
    ),
    interpretations: { [cur.readingId]: interpretation },
  };
}

/**
 * Default rule 6 (heart failure): weight up > 2 kg over 3 days -> amber.
 * Source: ESC/HFA self-care position paper (Jaarsma 2020) (docs/clinical/rules.md #6).
 */
export const weightGain3Days = defineMeasurementRule({
  id: 'hf-weight-gain-3d',
  title: 'Heart failure: weight up more than 2 kg over 3 days',
  kind: 'change-over-window',
  source: 'ESC/HFA self-care position paper, Jaarsma 2020 (docs/clinical/rules.md #6)',
  programs: ['heart_failure'],
  params: z
    .object({
      kg: z.number().positive().default(2),
      days: z.number().positive().default(3),
      /** dry weight set by the team; when unset, learnt from the protocol weigh-ins of the 30 days before */
      dryWeightKg: z.number().positive().optional(),
      baselineDays: z.number().int().positive().default(30),
      minBaselineDays: z.number().int().positive().default(5),
    })
    .strict(),
  // ESC HF guideline 2021: a rapid gain calls for a same-day contact (diuretic adjustment)
  priority: 'urgent',
  notify: ['coordinating_nurse', 'cardiologist'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['body_weight'],
  family: 'weight-gain',
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const cur = m.readings.get('body_weight');
    if (!cur || !(await isProtocolWeight(ctx, m))) return { outcome: 'skip' };
    const c = await changeOverWindow(ctx, m, 'body_weight', p.days * DAY, 'up');
    const action: Text = {
      en: 'Call today: breathlessness, ankle swelling? Diuretic adjustment per the heart-failure plan.',
      fr: "Appeler aujourd'hui : essoufflement, œdèmes des chevilles ? Adapter le diurétique selon le plan de soins.",
    };
    if (c) {
      if (c.delta <= p.kg) return { outcome: 'normal' };
      return weightBreach(
        m,
        c,
        both((l) => say(l, `over ${p.days} days`, `en ${p.days} jours`)),
        'H',
        action,
      );
    }
    // a gap in the weigh-ins: compare with the personal baseline instead of saying nothing
    const baseline =
      p.dryWeightKg ?? (await learntBaseline(ctx, m.patientId, m.measuredAt, p.baselineDays, p.minBaselineDays));
    if (baseline === null) return { outcome: 'skip' };
    const delta = Math.round((cur.value - baseline) * 10) / 10;
    if (delta <= p.kg) return { outcome: 'normal' };
    return {
      outcome: 'breach',
      severity: 'amber',
      readingIds: [cur.readingId],
      value: { body_weight: cur.value, baselineKg: baseline, deltaKg: delta },
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Weight ${num(cur.value, 1, l)} kg on ${clinicalTime(m.measuredAt, l)}, +${num(delta, 1, l)} kg above the ${p.dryWeightKg ? 'dry weight set by the team' : 'usual weight'} (${num(baseline, 1, l)} kg), after a gap in weigh-ins. ${action.en}`,
            `Poids ${num(cur.value, 1, l)} kg le ${clinicalTime(m.measuredAt, l)}, +${num(delta, 1, l)} kg au-dessus du ${p.dryWeightKg ? "poids sec fixé par l'équipe" : 'poids habituel'} (${num(baseline, 1, l)} kg), après une interruption des pesées. ${action.fr}`,
          ),
        ),
      ),
      interpretations: { [cur.readingId]: 'H' },
    };
  },
});

/**
 * Default rule 7 (heart failure): weight up >= 1.4 kg in 1 day or >= 2.3 kg in 7 days -> amber.
 * Source: US heart-failure patient education, 3 lb/day or 5 lb/week (docs/clinical/rules.md #7).
 */
export const weightGainDayWeek = defineMeasurementRule({
  id: 'hf-weight-gain-day-week',
  title: 'Heart failure: weight up >= 1.4 kg in 1 day or >= 2.3 kg in 7 days',
  kind: 'change-over-window',
  source: 'US heart-failure patient education, 3 lb/day or 5 lb/week (docs/clinical/rules.md #7)',
  programs: ['heart_failure'],
  params: z
    .object({ kgPerDay: z.number().positive().default(1.4), kgPerWeek: z.number().positive().default(2.3) })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'cardiologist'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['body_weight'],
  family: 'weight-gain',
  async evaluate(ctx, m): Promise<Evaluation> {
    if (!(await isProtocolWeight(ctx, m))) return { outcome: 'skip' };
    const day = await changeOverWindow(ctx, m, 'body_weight', DAY, 'up');
    const week = await changeOverWindow(ctx, m, 'body_weight', 7 * DAY, 'up');
    if (!day && !week) return { outcome: 'skip' };
    const hit =
      day && day.delta >= ctx.params.kgPerDay
        ? { c: day, span: { en: 'in 1 day', fr: 'en 1 jour' } }
        : week && week.delta >= ctx.params.kgPerWeek
          ? { c: week, span: { en: 'in 7 days', fr: 'en 7 jours' } }
          : null;
    if (!hit) return { outcome: 'normal' };
    return weightBreach(m, hit.c, hit.span, 'H', {
      en: 'Call: symptoms of congestion? Review at the next contact.',
      fr: 'Appeler : signes de congestion ? Revoir au prochain contact.',
    });
  },
});

/**
 * Default rule 8 (heart failure): weight down >= 0.9 kg over 2 days -> amber, inform nurse and
 * pharmacist: possible over-diuresis (docs/clinical/rules.md #8).
 */
export const weightLoss2Days = defineMeasurementRule({
  id: 'hf-weight-loss-2d',
  title: 'Heart failure: weight down >= 0.9 kg over 2 days (possible over-diuresis)',
  kind: 'change-over-window',
  source: 'Possible over-diuresis, program heuristic (docs/clinical/rules.md #8)',
  programs: ['heart_failure'],
  params: z.object({ kg: z.number().positive().default(0.9), days: z.number().positive().default(2) }).strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'pharmacist'],
  treatmentRelated: true,
  trigger: 'measurement',
  metrics: ['body_weight'],
  async evaluate(ctx, m): Promise<Evaluation> {
    if (!(await isProtocolWeight(ctx, m))) return { outcome: 'skip' };
    const c = await changeOverWindow(ctx, m, 'body_weight', ctx.params.days * DAY, 'down');
    if (!c) return { outcome: 'skip' };
    if (c.delta > -ctx.params.kg) return { outcome: 'normal' };
    return weightBreach(
      m,
      c,
      both((l) => say(l, `over ${ctx.params.days} days`, `en ${ctx.params.days} jours`)),
      'L',
      {
        en: 'Call: dizziness, thirst, low blood pressure? Pharmacist review of diuretic dose.',
        fr: 'Appeler : vertiges, soif, tension basse ? Revoir la dose de diurétique avec le pharmacien.',
      },
    );
  },
});
