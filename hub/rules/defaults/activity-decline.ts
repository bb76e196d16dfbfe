import { z } from 'zod';
import { DAY, utcDay } from '../clock';
import { both, num, say, summaryOf, type Text } from '../messages';
import { defineScheduledRule, type Evaluation } from '../rule';

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * Default rule 11 (oral chemotherapy): 3-day mean steps >= 20 % below the 14-day personal
 * baseline, or resting heart rate >= 20 % above it -> amber, nurse triage. Days are complete UTC
 * days before today: the recent window is the last 3, the baseline the 14 before them. Steps are
 * summed per day (activity sessions), heart rate averaged per day. Only complete days count: a
 * partial day's step total only grows, so counting it would raise false declines every morning
 * (alarm fatigue); the price is that a decline is seen at the first evaluation of the next day.
 * Source: JCO Oncology Practice RCT trigger, GI chemoradiation (docs/clinical/rules.md #11).
 */
export const activityDecline = defineScheduledRule({
  id: 'chemo-activity-decline',
  title: '3-day steps >= 20 % below, or resting heart rate >= 20 % above, the 14-day personal baseline',
  kind: 'baseline-deviation',
  source: 'JCO Oncology Practice RCT trigger, GI chemoradiation (docs/clinical/rules.md #11)',
  programs: ['oral_chemotherapy'],
  params: z
    .object({
      recentDays: z.number().int().positive().default(3),
      baselineDays: z.number().int().positive().default(14),
      stepsDropPct: z.number().positive().default(20),
      heartRateRisePct: z.number().positive().default(20),
      minBaselineDays: z.number().int().positive().default(7),
      minRecentDays: z.number().int().positive().default(2),
    })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'oncologist'],
  treatmentRelated: true,
  trigger: 'schedule',
  async evaluate(ctx): Promise<Evaluation> {
    const p = ctx.params;
    const today = utcDay(ctx.now);
    const recentFrom = today - p.recentDays * DAY;
    const baseFrom = recentFrom - p.baselineDays * DAY;
    const value: Record<string, number> = {};
    const findings: Text[] = [];
    let judged = false;
    for (const [metric, agg, dir, pct] of [
      ['steps', 'sum', -1, p.stepsDropPct],
      ['heart_rate', 'mean', 1, p.heartRateRisePct],
    ] as const) {
      const daily = await ctx.history.daily(ctx.patient.id, metric, baseFrom, today, agg);
      const base = [...daily].filter(([d]) => d < recentFrom).map(([, v]) => v);
      const recent = [...daily].filter(([d]) => d >= recentFrom).map(([, v]) => v);
      if (base.length < p.minBaselineDays || recent.length < p.minRecentDays) continue;
      judged = true;
      const b = mean(base);
      const r = mean(recent);
      const changePct = Math.round(((r - b) / b) * 1000) / 10;
      value[`${metric}ChangePct`] = changePct;
      if (dir < 0 ? changePct <= -pct : changePct >= pct)
        findings.push(
          both(
            (l) =>
              `${metric === 'steps' ? say(l, 'steps', 'pas') : say(l, 'resting heart rate', 'fréquence cardiaque de repos')} ${changePct > 0 ? '+' : ''}${num(changePct, 1, l)} % ${say(l, `vs the ${p.baselineDays}-day baseline`, `par rapport aux ${p.baselineDays} jours précédents`)}`,
          ),
        );
    }
    if (!judged) return { outcome: 'skip' };
    if (findings.length === 0) return { outcome: 'normal' };
    return {
      outcome: 'breach',
      severity: 'amber',
      readingIds: [],
      value,
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Activity change over the last ${p.recentDays} days: ${findings.map((f) => f.en).join('; ')}. Nurse triage call (fatigue, diarrhoea, infection?).`,
            `Changement d'activité sur les ${p.recentDays} derniers jours : ${findings.map((f) => f.fr).join(' ; ')}. Appel de triage infirmier (fatigue, diarrhée, infection ?).`,
          ),
        ),
      ),
    };
  },
});
