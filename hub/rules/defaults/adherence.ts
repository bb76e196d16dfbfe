import { z } from 'zod';
import { DAY } from '../clock';
import { both, say, summaryOf } from '../messages';
import { defineScheduledRule, type Evaluation } from '../rule';

/**
 * Adherence: days with data in the last 30. Fewer than 16 -> amber to the coordinating nurse.
 * Source: US CPT 99454 (>= 16 distinct days with data in each 30-day period; 99445 covers 2-15);
 * missing-data follow-up is the coordinating nurse's job (docs/clinical/rules.md, notes).
 * Patients enrolled for less than the period are not judged yet.
 */
export const adherence = defineScheduledRule({
  id: 'adherence-days-30',
  title: 'Fewer than 16 days with data in the last 30 days',
  kind: 'adherence',
  source: 'US CPT 99454 remote-monitoring reporting, >= 16 days with data per 30 days (docs/clinical/rules.md notes)',
  programs: 'all',
  params: z
    .object({ periodDays: z.number().int().positive().default(30), minDays: z.number().int().positive().default(16) })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse'],
  treatmentRelated: false,
  trigger: 'schedule',
  async evaluate(ctx): Promise<Evaluation> {
    const p = ctx.params;
    if (ctx.now.getTime() - ctx.patient.enrolledAt.getTime() < p.periodDays * DAY) return { outcome: 'skip' };
    const days = await ctx.history.daysWithData(
      ctx.patient.id,
      new Date(ctx.now.getTime() - p.periodDays * DAY),
      ctx.now,
    );
    if (days >= p.minDays) return { outcome: 'normal' };
    return {
      outcome: 'breach',
      severity: 'amber',
      readingIds: [],
      value: { daysWithData: days, periodDays: p.periodDays },
      ...summaryOf(
        both((l) =>
          say(
            l,
            `Readings on ${days} days of the last ${p.periodDays} (fewer than ${p.minDays}): call the patient about the measurements.`,
            `Mesures sur ${days} jours des ${p.periodDays} derniers (moins de ${p.minDays}) : appeler le patient au sujet des mesures.`,
          ),
        ),
      ),
    };
  },
});
