import type { Measurement, ScenarioDef } from '../model';
import { RULES } from '../rule-ids';
import { BP_CUFF, EVENING, MORNING, bpDayEffect, bpSession } from './common';

const GAP_FIRST = 10;
const GAP_LAST = 13;
const BASE = { systolic: 124, diastolic: 77, pulse: 70 };

/**
 * Non-adherent patient: skips many days (never two in a row, so no ordinary gap reaches 48 h),
 * often does one session only, and stops completely on days 10-13 (a 4-day gap).
 */
export const nonAdherent: ScenarioDef = {
  id: 'non-adherent',
  title: 'Non-adherent patient (missing days)',
  story:
    'Home BP (about 124/77 mmHg) on about half the days of 30, one session on many of them; no reading at all on days 10-13.',
  days: 30,
  devices: [BP_CUFF],
  patients: [{ key: 'p1', program: 'cardiovascular_prevention', devices: [{ device: BP_CUFF.key }] }],
  measure(ctx) {
    const rng = ctx.rng('adherence');
    const out: Measurement[] = [];
    // a day may be skipped only after an evening session, and the day after a skip starts with a
    // morning one: the longest ordinary gap is evening -> morning two days later (< 40 h)
    let eveningYesterday = false;
    let skippedYesterday = false;
    for (let d = 0; d < this.days; d++) {
      const forcedMeasure = d < 2 || d === GAP_FIRST - 1 || d === GAP_LAST + 1;
      const skip = (d >= GAP_FIRST && d <= GAP_LAST) || (!forcedMeasure && eveningYesterday && rng.chance(0.55));
      if (skip) {
        skippedYesterday = true;
        eveningYesterday = false;
        continue;
      }
      const eff = bpDayEffect(rng);
      const sessions =
        forcedMeasure || rng.chance(0.4)
          ? [MORNING, EVENING]
          : skippedYesterday
            ? [MORNING]
            : [rng.chance(0.5) ? MORNING : EVENING];
      skippedYesterday = false;
      eveningYesterday = sessions.includes(EVENING);
      for (const s of sessions) out.push(...bpSession(ctx, rng, 'p1', d, s, BASE, eff));
    }
    return out;
  },
  expectations: (ctx) => [
    // the last reading before the gap is on day 9 evening (20:10-20:51): 48 h later is day 11 evening
    {
      patient: 'p1',
      rule: '3',
      ruleId: RULES['3'].id,
      severity: 'amber',
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(GAP_FIRST + 1, 20, 0)),
      by: ctx.iso(ctx.at(GAP_FIRST + 1, 22, 0)),
      why: 'no BP reading from day 9 evening to day 14 morning',
    },
    {
      patient: 'p1',
      rule: '3b',
      ruleId: RULES['3b'].id,
      severity: 'red',
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(GAP_FIRST + 2, 20, 0)),
      by: ctx.iso(ctx.at(GAP_FIRST + 2, 22, 0)),
      why: '72 h without a reading on day 12 evening',
    },
    { patient: 'p1', rule: '5', ruleId: RULES['5'].id, expect: 'silent', why: 'BP about 124/77' },
  ],
};
