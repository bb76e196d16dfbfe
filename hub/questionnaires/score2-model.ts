/**
 * What SCORE2 (40-69) and SCORE2-OP (70-89) share: a linear predictor over the same risk factors
 * with age interactions, and the recalibration of a risk to an ESC risk region (SCORE2 working
 * group, Eur Heart J 2021;42:2439-2454, supplementary methods Table 4; SCORE2-OP, Eur Heart J
 * 2021;42:2455-2467). The models differ in their centring and figures only.
 */
export interface Score2Coefficients {
  age: number;
  smoking: number;
  sbp: number;
  tchol: number;
  hdl: number;
  smokingAge: number;
  sbpAge: number;
  tcholAge: number;
  hdlAge: number;
  baselineSurvival: number;
}

/** The risk factors already centred (and scaled) as the model asks. */
export interface CentredFactors {
  age: number;
  smoking: 0 | 1;
  sbp: number;
  tchol: number;
  hdl: number;
}

export function linearPredictor(c: Score2Coefficients, f: CentredFactors): number {
  return (
    c.age * f.age +
    c.smoking * f.smoking +
    c.sbp * f.sbp +
    c.tchol * f.tchol +
    c.hdl * f.hdl +
    c.smokingAge * f.smoking * f.age +
    c.sbpAge * f.sbp * f.age +
    c.tcholAge * f.tchol * f.age +
    c.hdlAge * f.hdl * f.age
  );
}

/** Recalibration to a risk region with its two scales: 1 - exp(-exp(s1 + s2 ln(-ln(1 - risk)))). */
export function recalibrate([s1, s2]: readonly [number, number], uncalibrated: number): number {
  return 1 - Math.exp(-Math.exp(s1 + s2 * Math.log(-Math.log(1 - uncalibrated))));
}
