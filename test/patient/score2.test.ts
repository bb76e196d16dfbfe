import { describe, expect, it } from 'vitest';
import { score2, score2Calibrate, score2Uncalibrated, type RiskRegion } from '../../hub/questionnaires/score2';

/**
 * Published worked example: SCORE2 paper (Eur Heart J 2021;42:2439), Supplementary methods
 * Table 4: a 50-year-old smoker without diabetes, systolic 140 mmHg, total cholesterol 6.3 mmol/L,
 * HDL 1.4 mmol/L. The table prints 4 decimals (risk as a fraction).
 */
const example = { age: 50, smoker: true, systolicBp: 140, totalCholesterol: 6.3, hdlCholesterol: 1.4 };
const TABLE4 = {
  male: { uncalibrated: 0.0541, low: 0.0631, moderate: 0.0811, high: 0.0881, very_high: 0.1506 },
  female: { uncalibrated: 0.0332, low: 0.0434, moderate: 0.0523, high: 0.0713, very_high: 0.1414 },
} as const;
const REGIONS: RiskRegion[] = ['low', 'moderate', 'high', 'very_high'];

describe('SCORE2 against the published worked example', () => {
  for (const sex of ['male', 'female'] as const) {
    it(`${sex}: uncalibrated 10-year risk to 4 decimals`, () => {
      expect(score2Uncalibrated({ ...example, sex }).toFixed(4)).toBe(TABLE4[sex].uncalibrated.toFixed(4));
    });
    it(`${sex}: calibrated risk in each region to 4 decimals`, () => {
      for (const region of REGIONS) {
        // from the table's own intermediate value, and end to end
        expect(score2Calibrate(TABLE4[sex].uncalibrated, sex, region).toFixed(4)).toBe(TABLE4[sex][region].toFixed(4));
        expect(score2Calibrate(score2Uncalibrated({ ...example, sex }), sex, region)).toBeCloseTo(
          TABLE4[sex][region],
          3,
        );
      }
    });
  }

  it('France is a low-risk region by default; categories follow ESC 2021 Table 4 by age', () => {
    const man = score2({ ...example, sex: 'male' });
    expect(man).toEqual({ riskPercent: 6.3, region: 'low', escCategory: 'high', band: 'moderate' });
    const woman = score2({ ...example, sex: 'female' });
    expect(woman).toEqual({ riskPercent: 4.3, region: 'low', escCategory: 'low_to_moderate', band: 'low' });
    expect(score2({ ...example, sex: 'male', region: 'very_high' }).band).toBe('high');
    // under 50 the thresholds are 2.5 % and 7.5 %
    expect(score2({ ...example, age: 45, sex: 'male' }).escCategory).not.toBe('low_to_moderate');
  });

  it('refuses ages outside 40-69 with a stable code', () => {
    expect(() => score2({ ...example, age: 72, sex: 'female' })).toThrow(
      expect.objectContaining({ code: 'SCORE2_OUT_OF_RANGE' }) as Error,
    );
    expect(() => score2({ ...example, age: 39, sex: 'female' })).toThrow(/40 to 69/);
  });
});
