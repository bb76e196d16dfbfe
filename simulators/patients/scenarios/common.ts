import type { Measurement, ScenarioContext, SimDevice } from '../model';
import { bpMeasurement, weight, type BpBaseline } from '../physiology';
import type { Prng } from '../prng';

export const BP_CUFF: SimDevice = {
  key: 'bp-cuff',
  driver: 'sig-blood-pressure',
  metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic', 'blood_pressure_mean', 'heart_rate'],
};
export const WEIGHT_SCALE: SimDevice = { key: 'scale', driver: 'sig-weight-scale', metrics: ['body_weight'] };
export const THERMOMETER: SimDevice = {
  key: 'thermometer',
  driver: 'sig-health-thermometer',
  metrics: ['body_temperature'],
};
export const OXIMETER: SimDevice = { key: 'oximeter', driver: 'sig-pulse-oximeter', metrics: ['spo2', 'heart_rate'] };
export const TRACKER: SimDevice = {
  key: 'tracker',
  driver: 'sig-physical-activity-monitor',
  metrics: ['steps', 'heart_rate'],
};

/** ESH home BP protocol: morning and evening sessions, 2 readings 1 min apart each. */
export const MORNING = { hour: 7, minute: 30 };
export const EVENING = { hour: 20, minute: 30 };

export function bpSession(
  ctx: ScenarioContext,
  rng: Prng,
  patient: string,
  day: number,
  slot: { hour: number; minute: number },
  base: BpBaseline,
  dayEffect: { systolic: number; diastolic: number },
): Measurement[] {
  const jitter = rng.int(-20, 20); // people do not measure at the same minute every day
  const t0 = ctx.at(day, slot.hour, slot.minute + jitter);
  return [0, 1].map((k) => ({
    patient,
    device: BP_CUFF.key,
    localMs: t0 + k * 60_000,
    values: bpMeasurement(rng, base, slot.hour + slot.minute / 60, dayEffect),
  }));
}

/** Day-to-day BP level variation (AR-free, independent days). */
export function bpDayEffect(rng: Prng): { systolic: number; diastolic: number } {
  return { systolic: rng.normal(0, 3), diastolic: rng.normal(0, 2) };
}

export function morningWeight(
  ctx: ScenarioContext,
  rng: Prng,
  patient: string,
  day: number,
  trueKg: number,
  userIndex?: number,
): Measurement {
  return {
    patient,
    device: WEIGHT_SCALE.key,
    ...(userIndex !== undefined ? { userIndex } : {}),
    localMs: ctx.at(day, 7, rng.int(0, 25)),
    values: { body_weight: weight(rng, trueKg) },
  };
}

/** Weight trajectory of a decompensation: flat, then `gainKg` spread evenly over `overDays`. */
export function decompensationWeight(
  base: number,
  day: number,
  startDay: number,
  gainKg: number,
  overDays: number,
): number {
  if (day < startDay) return base;
  return base + gainKg * Math.min(1, (day - startDay + 1) / overDays);
}
