import type { MetricName, Reading } from '../../contract';
import type { Prng } from './prng';
import type { ClinicalRuleNumber } from './rule-ids';

/** The enrollment programs of the hub (hub/admin/provisioning.ts Program). */
export type Program = 'oral_chemotherapy' | 'cardiovascular_prevention' | 'heart_failure';

export const SCENARIO_IDS = [
  'stable-hypertensive',
  'hypertensive-crisis',
  'heart-failure-decompensation',
  'febrile-neutropenia',
  'activity-decline',
  'non-adherent',
  'household-scale',
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** A virtual device in the household; `driver` is a real driver id from drivers/. */
export interface SimDevice {
  key: string;
  driver: string;
  metrics: readonly MetricName[];
}

/** A person in the household and the device slots bound to them (user index on shared scales). */
export interface SimPatient {
  key: string;
  program: Program;
  devices: { device: string; userIndex?: number }[];
}

/** One measurement event: a device reading one or several metrics at one instant (local time). */
export interface Measurement {
  patient: string;
  device: string;
  userIndex?: number;
  /** local time, ms since the local epoch (the device clock: no zone) */
  localMs: number;
  values: Partial<Record<MetricName, number>>;
}

/**
 * What the hub must do with the scenario: `fire` within [notBefore, by] (local times), or stay
 * `silent` for the whole scenario. Rules not listed are unspecified.
 */
export interface ExpectedAlert {
  patient: string;
  rule: ClinicalRuleNumber;
  ruleId: string;
  severity?: 'amber' | 'red';
  expect: 'fire' | 'silent';
  notBefore?: string;
  by?: string;
  why: string;
}

export interface ScenarioContext {
  rng(stream: string): Prng;
  /** local ms of `day` (0-based) at hh:mm */
  at(day: number, hour: number, minute?: number): number;
  /** local ISO time without zone of a local ms */
  iso(localMs: number): string;
  /** 0 = Sunday */
  weekday(day: number): number;
}

export interface ScenarioDef {
  id: ScenarioId;
  title: string;
  story: string;
  days: number;
  devices: SimDevice[];
  patients: SimPatient[];
  measure(ctx: ScenarioContext): Measurement[];
  expectations(ctx: ScenarioContext): ExpectedAlert[];
}

/** A generated scenario: wire-contract readings plus who they belong to and what must fire. */
export interface SimulatedScenario {
  scenario: ScenarioId;
  title: string;
  seed: number;
  gatewayId: string;
  /** local start date (day 0) and the zone offset used for measuredAt */
  startDate: string;
  utcOffsetMinutes: number;
  days: number;
  devices: { key: string; address: string; driver: string }[];
  patients: { key: string; program: Program; devices: { address: string; driver: string; userIndex?: number }[] }[];
  /** time-ordered */
  readings: { patient: string; reading: Reading }[];
  expectedAlerts: ExpectedAlert[];
}
