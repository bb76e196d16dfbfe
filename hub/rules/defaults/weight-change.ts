import { z } from 'zod';
import { DAY } from '../clock';
import { changeOverWindow } from '../kinds/change';
import type { HistoryRow } from '../history';
import { defineMeasurementRule, type Evaluation, type Measurement } from '../rule';

/** An amber weight-change breach: the reference and the new weigh-in, flagged high or low. */
function weightBreach(
  m: Measurement,
  c: { delta: number; reference: HistoryRow },
  summary: string,
  interpretation: 'H' | 'L',
): Evaluation {
  const cur = m.readings.get('body_weight');
  if (!cur) throw new Error('a weight breach is evaluated on a measurement holding body_weight');
  return {
    outcome: 'breach',
    severity: 'amber',
    readingIds: [c.reference.readingId, cur.readingId],
    value: { body_weight: cur.value, deltaKg: c.delta },
    summary,
    interpretations: { [cur.readingId]: interpretation },
  };
}

/**
 * Default rule 6 (heart failure): weight up > 2 kg over 3 days -> amber.
 * Source: ESC/HFA self-care position paper (Jaarsma 2020) (clinical-rules.md #6).
 */
export const weightGain3Days = defineMeasurementRule({
  id: 'hf-weight-gain-3d',
  title: 'Heart failure: weight up more than 2 kg over 3 days',
  kind: 'change-over-window',
  source: 'ESC/HFA self-care position paper, Jaarsma 2020 (clinical-rules.md #6)',
  programs: ['heart_failure'],
  params: z.object({ kg: z.number().positive().default(2), days: z.number().positive().default(3) }).strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'cardiologist'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['body_weight'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const c = await changeOverWindow(ctx, m, 'body_weight', ctx.params.days * DAY, 'up');
    if (!c) return { outcome: 'skip' };
    if (c.delta <= ctx.params.kg) return { outcome: 'normal' };
    return weightBreach(m, c, `weight +${c.delta} kg over ${ctx.params.days} days`, 'H');
  },
});

/**
 * Default rule 7 (heart failure): weight up >= 1.4 kg in 1 day or >= 2.3 kg in 7 days -> amber.
 * Source: US heart-failure patient education, 3 lb/day or 5 lb/week (clinical-rules.md #7).
 */
export const weightGainDayWeek = defineMeasurementRule({
  id: 'hf-weight-gain-day-week',
  title: 'Heart failure: weight up >= 1.4 kg in 1 day or >= 2.3 kg in 7 days',
  kind: 'change-over-window',
  source: 'US heart-failure patient education, 3 lb/day or 5 lb/week (clinical-rules.md #7)',
  programs: ['heart_failure'],
  params: z
    .object({ kgPerDay: z.number().positive().default(1.4), kgPerWeek: z.number().positive().default(2.3) })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'cardiologist'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['body_weight'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const day = await changeOverWindow(ctx, m, 'body_weight', DAY, 'up');
    const week = await changeOverWindow(ctx, m, 'body_weight', 7 * DAY, 'up');
    if (!day && !week) return { outcome: 'skip' };
    const hit =
      day && day.delta >= ctx.params.kgPerDay
        ? { c: day, span: '1 day' }
        : week && week.delta >= ctx.params.kgPerWeek
          ? { c: week, span: '7 days' }
          : null;
    if (!hit) return { outcome: 'normal' };
    return weightBreach(m, hit.c, `weight +${hit.c.delta} kg in ${hit.span}`, 'H');
  },
});

/**
 * Default rule 8 (heart failure): weight down >= 0.9 kg over 2 days -> amber, inform nurse and
 * pharmacist: possible over-diuresis (clinical-rules.md #8).
 */
export const weightLoss2Days = defineMeasurementRule({
  id: 'hf-weight-loss-2d',
  title: 'Heart failure: weight down >= 0.9 kg over 2 days (possible over-diuresis)',
  kind: 'change-over-window',
  source: 'Possible over-diuresis, program heuristic (clinical-rules.md #8)',
  programs: ['heart_failure'],
  params: z.object({ kg: z.number().positive().default(0.9), days: z.number().positive().default(2) }).strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'pharmacist'],
  treatmentRelated: true,
  trigger: 'measurement',
  metrics: ['body_weight'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const c = await changeOverWindow(ctx, m, 'body_weight', ctx.params.days * DAY, 'down');
    if (!c) return { outcome: 'skip' };
    if (c.delta > -ctx.params.kg) return { outcome: 'normal' };
    return weightBreach(m, c, `weight ${c.delta} kg over ${ctx.params.days} days`, 'L');
  },
});
