import type { Measurement, ScenarioDef } from '../model';
import { RULES } from '../rule-ids';
import { BP_CUFF, EVENING, MORNING, bpDayEffect, bpSession } from './common';

const BASE = { systolic: 126, diastolic: 78, pulse: 68 };

/** Treated, controlled hypertension: the negative control (no BP alert may fire). */
export const stableHypertensive: ScenarioDef = {
  id: 'stable-hypertensive',
  title: 'Stable treated hypertensive patient',
  story: 'Home BP twice daily (ESH protocol) for 14 days, controlled around 126/78 mmHg.',
  days: 14,
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
    }
    return out;
  },
  expectations: () => [
    { patient: 'p1', rule: '5', ruleId: RULES['5'].id, expect: 'silent', why: 'every reading well below 180/120' },
    { patient: 'p1', rule: '4', ruleId: RULES['4'].id, expect: 'silent', why: 'controlled: 7-day mean about 126/78' },
  ],
};
