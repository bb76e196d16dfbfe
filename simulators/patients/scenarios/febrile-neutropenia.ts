import type { Measurement, ScenarioDef } from '../model';
import { spo2, temperature } from '../physiology';
import { RULES } from '../rule-ids';
import { OXIMETER, THERMOMETER } from './common';

const FEVER_DAY = 9;

/**
 * Oral chemotherapy, nadir fever on day 9: 38.1 C at 14:00 (below 38.3: not yet), 38.2 C at 15:10
 * (second >= 38.0 reading >= 1 h later: IDSA definition met), 38.6 C at 17:00.
 */
export const febrileNeutropenia: ScenarioDef = {
  id: 'febrile-neutropenia',
  title: 'Febrile neutropenia during oral chemotherapy',
  story:
    'Oral temperature twice daily (36.6 C, circadian), SpO2 and pulse each morning; day 9 fever 38.1 C 14:00, 38.2 C 15:10, 38.6 C 17:00.',
  days: 12,
  devices: [THERMOMETER, OXIMETER],
  patients: [
    { key: 'p1', program: 'oral_chemotherapy', devices: [{ device: THERMOMETER.key }, { device: OXIMETER.key }] },
  ],
  measure(ctx) {
    const t = ctx.rng('temperature');
    const ox = ctx.rng('oximeter');
    const out: Measurement[] = [];
    for (let d = 0; d < this.days; d++) {
      // fever from day 9 early afternoon until antibiotics work on day 11
      const fever = (h: number) => (d === FEVER_DAY && h >= 14) || d === FEVER_DAY + 1;
      for (const [hour, minute] of [
        [8, t.int(0, 30)],
        [19, t.int(0, 30)],
      ] as const) {
        const base = fever(hour) ? 38.4 : 36.6;
        out.push({
          patient: 'p1',
          device: THERMOMETER.key,
          localMs: ctx.at(d, hour, minute),
          values: { body_temperature: temperature(t, base, hour) },
        });
      }
      out.push({
        patient: 'p1',
        device: OXIMETER.key,
        localMs: ctx.at(d, 8, 40 + ox.int(0, 15)),
        values: { spo2: spo2(ox, 97), heart_rate: Math.round(ox.normal(fever(8) ? 96 : 76, 3)) },
      });
      if (d === FEVER_DAY) {
        out.push(
          { patient: 'p1', device: THERMOMETER.key, localMs: ctx.at(d, 14, 0), values: { body_temperature: 38.1 } },
          { patient: 'p1', device: THERMOMETER.key, localMs: ctx.at(d, 15, 10), values: { body_temperature: 38.2 } },
          { patient: 'p1', device: THERMOMETER.key, localMs: ctx.at(d, 17, 0), values: { body_temperature: 38.6 } },
        );
      }
    }
    return out;
  },
  expectations: (ctx) => [
    {
      patient: 'p1',
      rule: '10',
      ruleId: RULES['10'].id,
      expect: 'fire',
      notBefore: ctx.iso(ctx.at(FEVER_DAY, 15, 10)),
      by: ctx.iso(ctx.at(FEVER_DAY, 15, 15)),
      why: '38.1 C at 14:00 then 38.2 C at 15:10 (2 readings >= 38.0 C >= 1 h apart)',
    },
    { patient: 'p1', rule: '1', ruleId: RULES['1'].id, expect: 'silent', why: 'SpO2 about 97 %' },
    { patient: 'p1', rule: '2', ruleId: RULES['2'].id, expect: 'silent', why: 'pulse under 130 /min even febrile' },
  ],
};
