import type { Prng } from './prng';

/**
 * Circadian and measurement-noise models. Deliberately simple, textbook shapes:
 * - blood pressure peaks after waking (morning surge) and dips at night (ESH 2021 home BP paper);
 * - core temperature peaks in the late afternoon, about +/-0.3 C (Refinetti & Menaker 1992);
 * - within-session BP variability of a few mmHg, which is why ESH asks for 2 readings 1 min apart.
 */
export function circadian(localHour: number, amplitude: number, peakHour: number): number {
  return amplitude * Math.cos((2 * Math.PI * (localHour - peakHour)) / 24);
}

export function roundTo(value: number, step: number): number {
  const r = Math.round(value / step) * step;
  // kill binary fractions (37.300000000000004) so values print and compare as the device shows them
  return Number(r.toFixed(Math.max(0, -Math.floor(Math.log10(step)))));
}

export interface BpBaseline {
  systolic: number;
  diastolic: number;
  pulse: number;
}

export interface BpValues {
  blood_pressure_systolic: number;
  blood_pressure_diastolic: number;
  blood_pressure_mean: number;
  heart_rate: number;
}

/** One cuff measurement (whole mmHg and beats/min, as cuffs display them). */
export function bpMeasurement(
  rng: Prng,
  base: BpBaseline,
  localHour: number,
  dayEffect = { systolic: 0, diastolic: 0 },
): BpValues {
  const sys = base.systolic + dayEffect.systolic + circadian(localHour, 5, 8) + rng.normal(0, 4.5);
  const dia = base.diastolic + dayEffect.diastolic + circadian(localHour, 3, 8) + rng.normal(0, 3);
  const hr = base.pulse + circadian(localHour, 4, 14) + rng.normal(0, 3);
  return exactBp(sys, dia, hr);
}

export function exactBp(systolic: number, diastolic: number, pulse: number): BpValues {
  const s = Math.round(systolic);
  const d = Math.round(diastolic);
  return {
    blood_pressure_systolic: s,
    blood_pressure_diastolic: d,
    blood_pressure_mean: Math.round((s + 2 * d) / 3),
    heart_rate: Math.round(pulse),
  };
}

/** Oral temperature in Cel, 0.1 C resolution (clinical thermometers). */
export function temperature(rng: Prng, base: number, localHour: number): number {
  return roundTo(base + circadian(localHour, 0.25, 17) + rng.normal(0, 0.1), 0.1);
}

/** Scale weight in kg at 0.05 kg resolution; morning weight after voiding has the least noise. */
export function weight(rng: Prng, trueWeight: number): number {
  return roundTo(trueWeight + rng.normal(0, 0.15), 0.05);
}

/** Daily step total: weekends lower, multiplicative day-to-day noise. */
export function dailySteps(rng: Prng, baseline: number, weekday: number, factor = 1): number {
  const weekend = weekday === 0 || weekday === 6 ? 0.85 : 1;
  return Math.max(0, Math.round(baseline * weekend * factor * Math.exp(rng.normal(0, 0.08))));
}

export function spo2(rng: Prng, base: number): number {
  return Math.min(100, Math.round(base + rng.normal(0, 0.8)));
}
