/**
 * The clinical vocabulary every part of the hub shares: programs, care roles, alert severities and
 * FHIR interpretation codes. It imports nothing from the hub, so rules, alerts, FHIR and the API
 * can all depend on it without depending on each other.
 */

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

/** Alert episode severity: amber (review within the working day) or red (act now). */
export type Severity = 'amber' | 'red';

/** FHIR Observation.interpretation codes (v3 ObservationInterpretation). */
export type Interpretation = 'H' | 'HH' | 'L' | 'LL';
