/**
 * ESC SCORE2-OP: 10-year risk of fatal and non-fatal cardiovascular disease for apparently healthy
 * people aged 70 and over, adjusted for the competing risk of non-cardiovascular death.
 * Source: SCORE2-OP working group and ESC Cardiovascular risk collaboration. SCORE2-OP risk
 * prediction algorithms: estimating incident cardiovascular event risk in older persons in four
 * geographical risk regions. Eur Heart J 2021;42(25):2455-2467, doi:10.1093/eurheartj/ehab312,
 * supplementary material (sex-specific log subdistribution hazard ratios, mean linear predictor,
 * 10-year baseline survival, region recalibration scales), taken from the working group's own public
 * calculator program (score2oprisk for Stata, S. Kaptoge, L. Pennells, S. Hageman, Cardiovascular
 * Epidemiology Unit, University of Cambridge, 2020-2022), and cross-checked against two independent
 * implementations of the published rounded figures (RiskScorescvd, CRAN; PyCVDRisk). See
 * docs/patient.md for what was and was not verifiable.
 */

import { linearPredictor, recalibrate, type Score2Coefficients } from './score2-model';

export type Sex = 'male' | 'female';
/** The four ESC risk regions (SCORE2 paper, Figure 1); France is low risk. */
export type RiskRegion = 'low' | 'moderate' | 'high' | 'very_high';

interface OpCoefficients extends Score2Coefficients {
  meanLinearPredictor: number;
}

/**
 * The working group's unrounded figures (score2oprisk); the paper's supplement prints them rounded
 * (coefficients and mean linear predictor to 4 decimals, baseline survival as 1 - 0.2424 and
 * 1 - 0.1918, scales to 2 decimals), and those rounded values are what the independent sources
 * agree on; the test checks that each figure here rounds to the published one. The unrounded scales
 * move the risk by up to 0.15 percentage point, enough to cross a 7.5 % or 15 % threshold.
 * Diabetes terms (men 0.4245 and -0.0174 x age, women 0.6010 and -0.0107 x age) are left out:
 * like SCORE2, the ESC 2021 guideline applies SCORE2-OP to apparently healthy people; a person
 * with diabetes is assessed by the physician (the questionnaire says so).
 */
export const SCORE2_OP_COEFFICIENTS: Record<Sex, OpCoefficients> = {
  male: {
    age: 0.0633767915,
    smoking: 0.3523957899,
    sbp: 0.0094362177,
    tchol: 0.0849594156,
    hdl: -0.3563571842,
    smokingAge: -0.0247205945,
    sbpAge: -0.0004794522,
    tcholAge: 0.0073336663,
    hdlAge: 0.0091317857,
    meanLinearPredictor: 0.09285225,
    baselineSurvival: 1 - 0.24235298,
  },
  female: {
    age: 0.0789191229,
    smoking: 0.492114701,
    sbp: 0.0101993091,
    tchol: 0.0604939598,
    hdl: -0.3040280248,
    smokingAge: -0.0255496313,
    sbpAge: -0.0004404728,
    tcholAge: -0.0009121461,
    hdlAge: 0.0153779923,
    meanLinearPredictor: 0.2287676,
    baselineSurvival: 1 - 0.19178759,
  },
};

/** Region recalibration, calibrated risk = 1 - exp(-exp(scale1 + scale2 * ln(-ln(1 - risk)))). */
export const SCORE2_OP_SCALES: Record<RiskRegion, Record<Sex, [number, number]>> = {
  low: { male: [-0.343484, 1.193038], female: [-0.516054, 1.007238] },
  moderate: { male: [0.00532, 1.248514], female: [-0.101044, 1.099621] },
  high: { male: [0.084305, 1.151902], female: [0.37572, 1.089031] },
  very_high: { male: [0.045959, 0.703625], female: [0.379293, 0.69153] },
};

/** The ESC 2021 SCORE2-OP charts cover 70 to 89 years; beyond, the model was not charted. */
export const SCORE2_OP_AGES = { min: 70, max: 89 } as const;

export interface Score2OpInput {
  age: number;
  sex: Sex;
  smoker: boolean;
  /** mmHg */
  systolicBp: number;
  /** mmol/L */
  totalCholesterol: number;
  /** mmol/L */
  hdlCholesterol: number;
}

/** Uncalibrated 10-year risk (fraction): age, blood pressure and HDL are centred on 73 years, 150 mmHg, 6 and 1.4 mmol/L. */
export function score2OpUncalibrated(i: Score2OpInput): number {
  const c = SCORE2_OP_COEFFICIENTS[i.sex];
  const lp = linearPredictor(c, {
    age: i.age - 73,
    smoking: i.smoker ? 1 : 0,
    sbp: i.systolicBp - 150,
    tchol: i.totalCholesterol - 6,
    hdl: i.hdlCholesterol - 1.4,
  });
  return 1 - c.baselineSurvival ** Math.exp(lp - c.meanLinearPredictor);
}

export function score2OpCalibrate(uncalibrated: number, sex: Sex, region: RiskRegion): number {
  return recalibrate(SCORE2_OP_SCALES[region][sex], uncalibrated);
}
