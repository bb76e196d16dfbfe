import type { Measurement, ScenarioDef } from '../model';
import { RULES } from '../rule-ids';
import { WEIGHT_SCALE, decompensationWeight, morningWeight } from './common';

const GAIN_START = 11;

/**
 * Two people on one scale (user index 1 and 2, like the Weight Scale profile's UDS users): the
 * heart-failure patient (84 kg) decompensates, the spouse (63 kg) is stable. A hub that filed a
 * reading to the wrong person would see a 21 kg "change" and alert the wrong patient.
 */
export const householdScale: ScenarioDef = {
  id: 'household-scale',
  title: 'Multi-user household scale',
  story:
    'One scale, user 1 (heart failure, 84 kg, +2.6 kg over days 11-13) and user 2 (63 kg, stable), both weigh in each morning.',
  days: 16,
  devices: [WEIGHT_SCALE],
  patients: [
    { key: 'user1', program: 'heart_failure', devices: [{ device: WEIGHT_SCALE.key, userIndex: 1 }] },
    { key: 'user2', program: 'heart_failure', devices: [{ device: WEIGHT_SCALE.key, userIndex: 2 }] },
  ],
  measure(ctx) {
    const a = ctx.rng('user1');
    const b = ctx.rng('user2');
    const out: Measurement[] = [];
    for (let d = 0; d < this.days; d++) {
      out.push(morningWeight(ctx, a, 'user1', d, decompensationWeight(84, d, GAIN_START, 2.6, 3), 1));
      // the spouse weighs in later, never within the same minute
      out.push({ ...morningWeight(ctx, b, 'user2', d, 63, 2), localMs: ctx.at(d, 7, 40 + b.int(0, 15)) });
    }
    return out;
  },
  expectations: (ctx) => [
    {
      patient: 'user1',
      rule: '6',
      ruleId: RULES['6'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(GAIN_START + 1, 0)),
      by: ctx.iso(ctx.at(GAIN_START + 2, 9)),
      why: 'user 1 gains 2.6 kg over 3 days',
    },
    {
      patient: 'user2',
      rule: '6',
      ruleId: RULES['6'].id,
      expect: 'silent',
      why: 'user 2 is stable: only a mix-up of users would make her weight jump',
    },
    { patient: 'user2', rule: '8', ruleId: RULES['8'].id, expect: 'silent', why: 'user 2 is stable' },
  ],
};
