import type { Measurement, ScenarioDef } from '../model';
import { dailySteps } from '../physiology';
import { RULES } from '../rule-ids';
import { TRACKER } from './common';

const DECLINE_START = 17;

/** Oral chemotherapy: daily steps about 6 500 for 17 days, then 45 % of that (fatigue). */
export const activityDecline: ScenarioDef = {
  id: 'activity-decline',
  title: 'Activity decline during oral chemotherapy',
  story:
    'Daily step totals (tracker sync at 22:00) about 6 500 (weekends 15 % lower); from day 17 about 2 900; resting pulse stable.',
  days: 20,
  devices: [TRACKER],
  patients: [{ key: 'p1', program: 'oral_chemotherapy', devices: [{ device: TRACKER.key }] }],
  measure(ctx) {
    const rng = ctx.rng('steps');
    const out: Measurement[] = [];
    for (let d = 0; d < this.days; d++) {
      out.push({
        patient: 'p1',
        device: TRACKER.key,
        localMs: ctx.at(d, 7, rng.int(0, 20)),
        values: { heart_rate: Math.round(rng.normal(64, 2)) },
      });
      const factor = d >= DECLINE_START ? 0.45 : 1;
      out.push({
        patient: 'p1',
        device: TRACKER.key,
        localMs: ctx.at(d, 22, 0),
        values: { steps: dailySteps(rng, 6500, ctx.weekday(d), factor) },
      });
    }
    return out;
  },
  expectations: (ctx) => [
    {
      patient: 'p1',
      rule: '11',
      ruleId: RULES['11'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(DECLINE_START, 22, 0)),
      by: ctx.iso(ctx.at(DECLINE_START + 1, 22, 5)),
      why: '3-day mean falls >= 20 % below the 14-day baseline once 2 of 3 days are at 45 %',
    },
    { patient: 'p1', rule: '2', ruleId: RULES['2'].id, expect: 'silent', why: 'resting pulse about 64 /min' },
  ],
};
