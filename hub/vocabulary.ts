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

/** The cardiovascular coaching team (hub/coaching): they follow goals and calls, not alerts or raw readings. */
export type CoachRole =
  'coaching_nurse' | 'dietitian' | 'psychologist' | 'tobacco_specialist' | 'physical_activity_coach';
export const COACH_ROLES: readonly CoachRole[] = [
  'coaching_nurse',
  'dietitian',
  'psychologist',
  'tobacco_specialist',
  'physical_activity_coach',
];

/** Every role of a care-team member who follows patients: all but the administrator. */
export type TeamRole = CareRole | CoachRole;
export const TEAM_ROLES: readonly TeamRole[] = [...CARE_ROLES, ...COACH_ROLES];

/** Every professional role the hub knows (docs/api.md): the team roles and the administrator. */
export type Role = TeamRole | 'admin';
export const ROLES: readonly Role[] = [...TEAM_ROLES, 'admin'];

/** Alert episode severity: amber (review within the working day) or red (act now). */
export type Severity = 'amber' | 'red';

/** FHIR Observation.interpretation codes (v3 ObservationInterpretation). */
export type Interpretation = 'H' | 'HH' | 'L' | 'LL';
