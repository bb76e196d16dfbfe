/**
 * ESC SCORE2: 10-year risk of fatal and non-fatal cardiovascular disease for apparently healthy
 * people aged 40-69 without diabetes.
 * Source: SCORE2 working group and ESC Cardiovascular risk collaboration. SCORE2 risk prediction
 * algorithms: new models to estimate 10-year risk of cardiovascular disease in Europe.
 * Eur Heart J 2021;42(25):2439-2454, doi:10.1093/eurheartj/ehab309, Supplementary methods
 * Table 2 (coefficients, baseline survival), Table 3 (region recalibration scales), Table 4
 * (worked example, reproduced in test/patient/score2.test.ts).
 * Risk regions (same paper, Figure 1): France is a low-risk region.
 * Thresholds: 2021 ESC Guidelines on cardiovascular disease prevention in clinical practice,
 * Eur Heart J 2021;42:3227, Table 4 (age-specific: < 50 years 2.5 % / 7.5 %; 50-69 years 5 % / 10 %;
 * 70 and over, with SCORE2-OP, 7.5 % / 15 %).
 * From 70 to 89 years `score2()` uses SCORE2-OP (score2-op.ts), as the guideline does.
 */
import { linearPredictor, recalibrate, type Score2Coefficients } from './score2-model';
import { SCORE2_OP_AGES, score2OpCalibrate, score2OpUncalibrated, type RiskRegion, type Sex } from './score2-op';

export type { RiskRegion, Sex };

export interface Score2Input {
  age: number;
  sex: Sex;
  smoker: boolean;
  /** mmHg */
  systolicBp: number;
  /** mmol/L */
  totalCholesterol: number;
  /** mmol/L */
  hdlCholesterol: number;
  region?: RiskRegion;
}

/** Supplementary methods Table 2 (log subdistribution hazard ratios; diabetes terms omitted: SCORE2 is for people without diabetes). */
const COEFFICIENTS: Record<Sex, Score2Coefficients> = {
  male: {
    age: 0.3742,
    smoking: 0.6012,
    sbp: 0.2777,
    tchol: 0.1458,
    hdl: -0.2698,
    smokingAge: -0.0755,
    sbpAge: -0.0255,
    tcholAge: -0.0281,
    hdlAge: 0.0426,
    baselineSurvival: 0.9605,
  },
  female: {
    age: 0.4648,
    smoking: 0.7744,
    sbp: 0.3131,
    tchol: 0.1002,
    hdl: -0.2606,
    smokingAge: -0.1088,
    sbpAge: -0.0277,
    tcholAge: -0.0226,
    hdlAge: 0.0613,
    baselineSurvival: 0.9776,
  },
};

/** Supplementary methods Table 3: calibrated risk = 1 - exp(-exp(scale1 + scale2 * ln(-ln(1 - risk)))). */
const SCALES: Record<RiskRegion, Record<Sex, [number, number]>> = {
  low: { male: [-0.5699, 0.7476], female: [-0.738, 0.7019] },
  moderate: { male: [-0.1565, 0.8009], female: [-0.3143, 0.7701] },
  high: { male: [0.3207, 0.936], female: [0.571, 0.9369] },
  very_high: { male: [0.5836, 0.8294], female: [0.9412, 0.8329] },
};

export class Score2RangeError extends Error {
  readonly code = 'SCORE2_OUT_OF_RANGE';
}

/** Uncalibrated 10-year risk (fraction), Supplementary methods Table 4 steps 1-2. */
export function score2Uncalibrated(i: Score2Input): number {
  if (i.age < 40 || i.age > 69)
    throw new Score2RangeError('SCORE2 applies from 40 to 69 years (SCORE2-OP from 70 to 89)');
  const c = COEFFICIENTS[i.sex];
  const lp = linearPredictor(c, {
    age: (i.age - 60) / 5,
    smoking: i.smoker ? 1 : 0,
    sbp: (i.systolicBp - 120) / 20,
    tchol: i.totalCholesterol - 6,
    hdl: (i.hdlCholesterol - 1.3) / 0.5,
  });
  return 1 - c.baselineSurvival ** Math.exp(lp);
}

/** Recalibration to the risk region, Supplementary methods Table 4 step 3. */
export function score2Calibrate(uncalibrated: number, sex: Sex, region: RiskRegion): number {
  return recalibrate(SCALES[region][sex], uncalibrated);
}

export type EscCategory = 'low_to_moderate' | 'high' | 'very_high';
/** The cardiovascular program's three bands, one per ESC category. */
export type ProgramBand = 'low' | 'moderate' | 'high';

export interface Score2Result {
  /** SCORE2 (40-69 years) or SCORE2-OP (70-89 years) */
  model: 'SCORE2' | 'SCORE2-OP';
  /** 10-year risk in %, one decimal as the ESC charts and HeartScore print it */
  riskPercent: number;
  region: RiskRegion;
  escCategory: EscCategory;
  band: ProgramBand;
}

/** ESC 2021 prevention guidelines, Table 4: thresholds depend on age. */
export function escCategory(age: number, riskPercent: number): EscCategory {
  const [high, veryHigh] = age < 50 ? [2.5, 7.5] : age < 70 ? [5, 10] : [7.5, 15];
  return riskPercent >= veryHigh ? 'very_high' : riskPercent >= high ? 'high' : 'low_to_moderate';
}

/** SCORE2 (40-69) or SCORE2-OP (70-89), for France by default (low-risk region). */
export function score2(i: Score2Input): Score2Result {
  const region = i.region ?? 'low';
  if (i.age > SCORE2_OP_AGES.max)
    throw new Score2RangeError(`SCORE2-OP is charted from 70 to ${String(SCORE2_OP_AGES.max)} years`);
  const older = i.age >= SCORE2_OP_AGES.min;
  const risk = older
    ? score2OpCalibrate(score2OpUncalibrated(i), i.sex, region)
    : score2Calibrate(score2Uncalibrated(i), i.sex, region);
  const riskPercent = Math.round(risk * 1000) / 10;
  const cat = escCategory(i.age, riskPercent);
  return {
    model: older ? 'SCORE2-OP' : 'SCORE2',
    riskPercent,
    region,
    escCategory: cat,
    band: cat === 'very_high' ? 'high' : cat === 'high' ? 'moderate' : 'low',
  };
}
