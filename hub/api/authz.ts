import type pg from 'pg';
import type { MetricName } from '../../contract';
import { DEFAULT_RULES } from '../rules/catalog';
import { CARE_ROLES, COACH_ROLES, ROLES, TEAM_ROLES, type Role } from '../vocabulary';
import { ApiError } from './errors';

// the role lists live in the vocabulary (hub/vocabulary.ts), shared with content and messaging
export { COACH_ROLES, ROLES, type CoachRole, type Role } from '../vocabulary';

export interface Professional {
  id: string;
  role: Role;
}

/**
 * Authorization matrix (docs/api.md): which role may do what. Patient-level capabilities also need
 * the patient in the professional's scope (see patientScopeSql) and, for clinical data, the
 * patient's consent. Every cell is tested (test/integration/api-authorization.test.ts).
 */
export const MATRIX = {
  /** patient list and record (pseudonymous id, program, name) */
  'patients.read': ROLES,
  /** coaching plan: goals, their progress, calls and their notes */
  'coaching.read': ['coordinating_nurse', 'cardiologist', 'general_practitioner', ...COACH_ROLES],
  /** agree goals with the participant, schedule calls, write their notes */
  'coaching.write': ['coordinating_nurse', ...COACH_ROLES],
  /** alert episodes, FHIR Task (pharmacist: treatment/toxicity rules only) */
  'alerts.read': CARE_ROLES,
  /** acknowledge, assign, resolve, silence */
  'alerts.triage': ['coordinating_nurse', 'oncologist', 'cardiologist'],
  /** raw readings, FHIR Observation */
  'readings.read': ['coordinating_nurse', 'oncologist', 'cardiologist', 'home_nurse'],
  /** daily aggregates and adherence (pharmacist: treatment metrics only) */
  'trends.read': CARE_ROLES,
  /** a patient's questionnaire answers and scores: the care team, and the coaching team (risk questionnaire) */
  'questionnaires.read': TEAM_ROLES,
  /** a patient's effective rule settings and their change history */
  'rules.read': CARE_ROLES,
  /** per-patient overrides: the responsible physicians */
  'rules.override': ['oncologist', 'cardiologist', 'general_practitioner'],
  /** program-wide rule settings */
  'rules.program': ['admin'],
  /** enroll patients, gateways, device bindings, record consent, add patients to teams */
  'enrollment.write': ['coordinating_nurse', 'admin'],
  /** a patient's gateways and devices */
  'devices.read': ['coordinating_nurse', 'home_nurse', 'admin'],
  /** open a box's pairing window for the patient's new device (during a home visit or a call) */
  'devices.pair': ['coordinating_nurse', 'home_nurse', 'admin'],
  /** unmapped readings: list and assign */
  quarantine: ['coordinating_nurse', 'admin'],
  /** care teams, members, webhooks */
  'careteams.admin': ['admin'],
  /** webhook delivery log */
  'deliveries.read': ['coordinating_nurse', 'admin'],
  'audit.read': ['admin'],
  /** program reports: pseudonymised aggregates (admin: any team; coordinating nurse: her teams) */
  'reports.read': ['coordinating_nurse', 'admin'],
} as const satisfies Record<string, readonly Role[]>;
export type Capability = keyof typeof MATRIX;

/** Capabilities that expose clinical data: they need the patient's consent, and admins never have them. */
const CLINICAL: ReadonlySet<Capability> = new Set([
  'alerts.read',
  'alerts.triage',
  'readings.read',
  'trends.read',
  'questionnaires.read',
  'rules.read',
  'rules.override',
  'coaching.read',
  'coaching.write',
]);

/** What the pharmacist sees: treatment and toxicity (issue 6, item 4). */
export const PHARMACIST_RULES: ReadonlySet<string> = new Set(
  DEFAULT_RULES.filter((r) => r.treatmentRelated).map((r) => r.id),
);
export const PHARMACIST_METRICS: ReadonlySet<MetricName> = new Set<MetricName>([
  'body_temperature',
  'body_weight',
  'glucose',
]);

export function can(p: Professional, cap: Capability): boolean {
  return (MATRIX[cap] as readonly Role[]).includes(p.role);
}

export function requireCap(p: Professional, cap: Capability): void {
  if (!can(p, cap)) throw new ApiError('FORBIDDEN', `role ${p.role} may not ${cap}`);
}

/**
 * SQL condition "patient <col> is in professional $n's scope":
 * - admin: every patient (administrative capabilities only);
 * - coordinating nurse: every patient of the programs of her care teams (the program's worklist);
 * - others: the patients of their care teams;
 * and for clinical capabilities the patient's consent to this professional (not revoked).
 */
/**
 * What the patient may narrow in her consent to one professional (patient_consents.patient_scope,
 * set in the patient space; NULL = everything): the raw readings and the trends drawn from them, and
 * her questionnaire answers. Alerts are not narrowed: the team must still be told when a reading or
 * an answer is dangerous (a severe questionnaire answer raises an episode like a reading does).
 */
const CONSENT_SCOPE: Partial<Record<Capability, string>> = {
  'readings.read': 'readings',
  'trends.read': 'readings',
  'questionnaires.read': 'questionnaires',
};

export function patientScopeSql(
  p: Professional,
  col: string,
  param: string,
  clinical: boolean,
  /** the capability asked, when the patient's consent scope may narrow it */
  cap?: Capability,
): string {
  // (the parameter is referenced so every query binds it the same way)
  if (p.role === 'admin') return clinical ? `(${param}::text IS NULL)` : `(${param}::text IS NOT NULL)`;
  const membership =
    p.role === 'coordinating_nurse'
      ? `EXISTS (SELECT 1 FROM care_team_members m JOIN care_teams t ON t.id = m.care_team_id JOIN patients pp ON pp.id = ${col}
                 WHERE m.professional_id = ${param} AND t.program_id = pp.program_id)`
      : `EXISTS (SELECT 1 FROM care_team_patients ctp JOIN care_team_members m ON m.care_team_id = ctp.care_team_id
                 WHERE ctp.patient_id = ${col} AND m.professional_id = ${param})`;
  const scope = cap ? CONSENT_SCOPE[cap] : undefined;
  const narrowed = scope ? ` AND (pc.patient_scope IS NULL OR '${scope}' = ANY(pc.patient_scope))` : '';
  const consent = `EXISTS (SELECT 1 FROM patient_consents pc WHERE pc.patient_id = ${col} AND pc.professional_id = ${param} AND pc.revoked_at IS NULL${narrowed})`;
  return clinical ? `(${membership} AND ${consent})` : membership;
}

/**
 * Throws unless the professional holds `cap` for this patient. A patient outside the professional's
 * care teams (or program, for a coordinating nurse) answers NOT_FOUND exactly like an unknown id, so
 * that neither status reveals whether a patient exists outside one's scope; FORBIDDEN is kept for a
 * patient one may know of (a missing consent, a role without the capability).
 */
export async function requirePatient(
  pool: pg.Pool,
  p: Professional,
  cap: Capability,
  patientId: string,
): Promise<void> {
  requireCap(p, cap);
  const { rows } = await pool.query<{ member: boolean; ok: boolean }>(
    `SELECT ${patientScopeSql(p, 'patients.id', '$2', false)} AS member,
            ${patientScopeSql(p, 'patients.id', '$2', CLINICAL.has(cap), cap)} AS ok
     FROM patients WHERE id = $1`,
    [patientId, p.id],
  );
  const row = rows[0];
  if (!row?.member) throw new ApiError('NOT_FOUND', 'no such patient in your scope');
  if (!row.ok) throw new ApiError('FORBIDDEN', `no consent of this patient for ${cap}`);
}

export function isClinical(cap: Capability): boolean {
  return CLINICAL.has(cap);
}
