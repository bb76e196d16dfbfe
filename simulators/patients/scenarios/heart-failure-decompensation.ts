import type { Measurement, ScenarioDef } from '../model';
import { RULES } from '../rule-ids';
import { BP_CUFF, MORNING, WEIGHT_SCALE, bpDayEffect, bpSession, decompensationWeight, morningWeight } from './common';

const BASE_KG = 82;
const GAIN_START = 11;

/** Fluid retention: +2.6 kg over days 11-13 (about 0.9 kg a day), weight flat before. */
export const heartFailureDecompensation: ScenarioDef = {
  id: 'heart-failure-decompensation',
  title: 'Heart-failure decompensation (weight gain)',
  story: 'Daily morning weight 82 kg for 11 days, then +2.6 kg over 3 days (days 11-13), plateau; morning BP.',
  days: 16,
  devices: [WEIGHT_SCALE, BP_CUFF],
  patients: [{ key: 'p1', program: 'heart_failure', devices: [{ device: WEIGHT_SCALE.key }, { device: BP_CUFF.key }] }],
  measure(ctx) {
    const w = ctx.rng('weight');
    const bp = ctx.rng('bp');
    const out: Measurement[] = [];
    for (let d = 0; d < this.days; d++) {
      out.push(morningWeight(ctx, w, 'p1', d, decompensationWeight(BASE_KG, d, GAIN_START, 2.6, 3)));
      out.push(...bpSession(ctx, bp, 'p1', d, MORNING, { systolic: 118, diastolic: 72, pulse: 74 }, bpDayEffect(bp)));
    }
    return out;
  },
  expectations: (ctx) => [
    {
      patient: 'p1',
      rule: '6',
      ruleId: RULES['6'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(GAIN_START + 1, 0)),
      by: ctx.iso(ctx.at(GAIN_START + 2, 9)),
      why: '+2.6 kg between day 10 and day 13',
    },
    {
      patient: 'p1',
      rule: '7',
      ruleId: RULES['7'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(GAIN_START, 0)),
      by: ctx.iso(ctx.at(GAIN_START + 2, 9)),
      why: '>= 2.3 kg within 7 days',
    },
    { patient: 'p1', rule: '8', ruleId: RULES['8'].id, expect: 'silent', why: 'weight never drops' },
    { patient: 'p1', rule: '5', ruleId: RULES['5'].id, expect: 'silent', why: 'BP about 118/72' },
  ],
};
