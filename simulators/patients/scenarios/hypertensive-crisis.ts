import type { Measurement, ScenarioDef } from '../model';
import { exactBp } from '../physiology';
import { RULES } from '../rule-ids';
import { BP_CUFF, EVENING, MORNING, bpDayEffect, bpSession } from './common';

const BASE = { systolic: 141, diastolic: 89, pulse: 72 };
const CRISIS_DAY = 6;

/**
 * Uncontrolled hypertension (7-day mean above 135/85) with a crisis on day 6 at 19:40:
 * 194/118, then the re-measure the gateway asks for 2 minutes later, 188/123 (confirmed).
 */
export const hypertensiveCrisis: ScenarioDef = {
  id: 'hypertensive-crisis',
  title: 'Hypertensive crisis in an uncontrolled hypertensive patient',
  story: 'Home BP about 141/89 mmHg for 10 days; day 6 19:40 a reading of 194/118, confirmed 2 min later at 188/123.',
  days: 10,
  devices: [BP_CUFF],
  patients: [{ key: 'p1', program: 'cardiovascular_prevention', devices: [{ device: BP_CUFF.key }] }],
  measure(ctx) {
    const rng = ctx.rng('bp');
    const out: Measurement[] = [];
    for (let d = 0; d < this.days; d++) {
      const eff = bpDayEffect(rng);
      out.push(
        ...bpSession(ctx, rng, 'p1', d, MORNING, BASE, eff),
        ...bpSession(ctx, rng, 'p1', d, EVENING, BASE, eff),
      );
      if (d === CRISIS_DAY) {
        out.push(
          { patient: 'p1', device: BP_CUFF.key, localMs: ctx.at(d, 19, 40), values: exactBp(194, 118, 96) },
          { patient: 'p1', device: BP_CUFF.key, localMs: ctx.at(d, 19, 42), values: exactBp(188, 123, 94) },
        );
      }
    }
    return out;
  },
  expectations: (ctx) => [
    {
      patient: 'p1',
      rule: '5',
      ruleId: RULES['5'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(CRISIS_DAY, 19, 40)),
      by: ctx.iso(ctx.at(CRISIS_DAY, 19, 47)),
      why: '194/118 at 19:40, confirmed 188/123 at 19:42',
    },
    {
      patient: 'p1',
      rule: '4',
      ruleId: RULES['4'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(6, 7, 0)),
      by: ctx.iso(ctx.at(8, 0, 0)),
      why: 'home mean about 141/89 once 7 days are measured (day 1 dropped)',
    },
  ],
};
