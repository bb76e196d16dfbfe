import type { z } from 'zod';
import type { MetricName } from '../../contract';
import type { Severity } from '../alerts/episode-store';
import type { History } from './history';

/** A reading as the rules see it: filed to a patient, canonical unit, canonical time. */
export interface FiledReading {
  readingId: string;
  patientId: string;
  metric: MetricName;
  value: number;
  measuredAt: Date;
}

export type Program = 'oral_chemotherapy' | 'cardiovascular_prevention' | 'heart_failure';
export const PROGRAMS: readonly Program[] = ['oral_chemotherapy', 'cardiovascular_prevention', 'heart_failure'];

export type CareRole =
  'coordinating_nurse' | 'oncologist' | 'cardiologist' | 'general_practitioner' | 'pharmacist' | 'home_nurse';
export const CARE_ROLES: readonly CareRole[] = [
  'coordinating_nurse',
  'oncologist',
  'cardiologist',
  'general_practitioner',
  'pharmacist',
  'home_nurse',
];

/** FHIR Observation.interpretation codes (v3 ObservationInterpretation). */
export type Interpretation = 'H' | 'HH' | 'L' | 'LL';

export interface PatientFacts {
  id: string;
  programId: Program;
  chronicLungDisease: boolean;
  enrolledAt: Date;
}

/** All readings of one patient taken at the same instant (a cuff gives systolic, diastolic, pulse). */
export interface Measurement {
  patientId: string;
  measuredAt: Date;
  readings: Map<MetricName, FiledReading>;
}

export type Evaluation =
  | {
      outcome: 'breach';
      severity: Severity;
      readingIds: string[];
      value: Record<string, number>;
      summary: string;
      interpretations?: Record<string, Interpretation>;
    }
  /** confirmed-threshold rules: the first out-of-range reading asks for a second one */
  | { outcome: 'remeasure'; readingIds: string[]; value: Record<string, number>; expiresAt: Date }
  | { outcome: 'normal' }
  /** not applicable or not enough data: neither a breach nor a normal evaluation */
  | { outcome: 'skip' };

export type RuleKind =
  | 'threshold'
  | 'confirmed-threshold'
  | 'change-over-window'
  | 'windowed-mean'
  | 'baseline-deviation'
  | 'missing-data'
  | 'adherence';

export interface RuleContext<P> {
  patient: PatientFacts;
  params: P;
  now: Date;
  history: History;
}

interface RuleBase<S extends z.ZodObject> {
  id: string;
  title: string;
  kind: RuleKind;
  /** the guideline or heuristic it implements (shared/reference/clinical-rules.md) */
  source: string;
  programs: 'all' | readonly Program[];
  /** parameters with their defaults (schema.parse({}) gives the defaults); overridable per program and patient */
  params: S;
  /** FHIR Task.priority of its episodes */
  priority: 'routine' | 'urgent' | 'stat';
  /** care-team roles notified of its episodes */
  notify: readonly CareRole[];
  /** treatment/toxicity rules are also visible to the pharmacist (docs/api.md matrix) */
  treatmentRelated: boolean;
}

/** Evaluated on each newly stored measurement containing one of its metrics. */
export interface MeasurementRule<S extends z.ZodObject = z.ZodObject> extends RuleBase<S> {
  trigger: 'measurement';
  metrics: readonly MetricName[];
  evaluate(ctx: RuleContext<z.infer<S>>, m: Measurement): Promise<Evaluation> | Evaluation;
  /**
   * A "please re-measure" request that expired with no new reading at all: the episode to open
   * for follow-up, if any (the patient was never re-measured; a normal re-measure clears it).
   */
  unconfirmed?(params: z.infer<S>, value: Record<string, number>): { severity: Severity; summary: string } | undefined;
}

/** Evaluated by the scheduler for every patient of its programs (missing data, adherence, baselines). */
export interface ScheduledRule<S extends z.ZodObject = z.ZodObject> extends RuleBase<S> {
  trigger: 'schedule';
  evaluate(ctx: RuleContext<z.infer<S>>): Promise<Evaluation> | Evaluation;
}

export type Rule = MeasurementRule | ScheduledRule;

export function defineMeasurementRule<S extends z.ZodObject>(r: MeasurementRule<S>): MeasurementRule {
  return r;
}
export function defineScheduledRule<S extends z.ZodObject>(r: ScheduledRule<S>): ScheduledRule {
  return r;
}

export function appliesTo(rule: Rule, program: Program): boolean {
  return rule.programs === 'all' || rule.programs.includes(program);
}
