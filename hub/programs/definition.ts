import { z } from 'zod';
import { metricNameSchema } from '../../contract';
import { DEFAULT_RULES, ruleById } from '../rules/catalog';
import type { Rule } from '../rules/rule';
import { thresholdIssues } from './threshold-ranges';

/**
 * A care program as data (docs/programs.md): what it follows, which rules watch it and with which
 * thresholds, its questionnaires and education content, the roles of its care and coaching teams
 * and what each may see, who may be enrolled and for how long. One schema gives the types, the
 * validation of the admin API and the OpenAPI documentation.
 */

/** Program and role ids: lower-case words joined by underscores (they are stored and shown as is). */
export const programIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{2,62}$/, 'lower-case letters, digits and underscores, 3 to 63 characters');
export const roleIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{2,62}$/, 'lower-case letters, digits and underscores, 3 to 63 characters');

/** Device kinds a program hands out (the GATT profiles the gateway's drivers read). */
export const DEVICE_KINDS = [
  'blood_pressure',
  'weight_scale',
  'thermometer',
  'pulse_oximeter',
  'glucose_meter',
  'activity_tracker',
] as const;

/**
 * What a role may see or do for a patient of the program. Each item opens one capability of the
 * authorization matrix (hub/api/authz.ts) for this role in this program only.
 */
export const VISIBILITY = [
  'alerts',
  'alerts_triage',
  'readings',
  'trends',
  'rules',
  'messages',
  'questionnaires',
  'coaching',
  'coaching_write',
] as const;
export type Visibility = (typeof VISIBILITY)[number];

/** The matrix capability each visibility item opens (patients.read comes with being a role of the program). */
export const VISIBILITY_CAPABILITY = {
  alerts: 'alerts.read',
  alerts_triage: 'alerts.triage',
  readings: 'readings.read',
  trends: 'trends.read',
  rules: 'rules.read',
  messages: 'messages.use',
  questionnaires: 'questionnaires.read',
  coaching: 'coaching.read',
  coaching_write: 'coaching.write',
} as const satisfies Record<Visibility, string>;

export const ruleSettingSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** overrides of the rule's default parameters (the catalog gives the defaults; patients' overrides apply on top) */
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const roleDefinitionSchema = z
  .object({
    id: roleIdSchema,
    /** clinical: a member of the care team; coaching: a member of the coaching team (hub/coaching) */
    kind: z.enum(['clinical', 'coaching']),
    label: z.string().min(1).max(120),
    sees: z.array(z.enum(VISIBILITY)).default([]),
  })
  .strict();

export const questionnaireScheduleSchema = z
  .object({
    /** a definition of hub/questionnaires/definitions */
    id: z.string().min(1),
    /** repeat every N days; null: once */
    everyDays: z.number().int().min(1).max(365).nullable(),
    /** assigned to every patient at enrollment */
    onEnrollment: z.boolean().default(true),
  })
  .strict();

export const programDefinitionSchema = z
  .object({
    id: programIdSchema,
    name: z.string().min(1).max(200),
    description: z.string().max(2000).default(''),
    metrics: z.array(metricNameSchema).min(1),
    deviceKinds: z.array(z.enum(DEVICE_KINDS)).default([]),
    /** rule id -> setting; a catalog rule not listed here does not run for this program's patients */
    rules: z.record(z.string(), ruleSettingSchema).default({}),
    questionnaires: z.array(questionnaireScheduleSchema).default([]),
    /** education content of the patient space: articles by id, or by tag (front matter `tags`, or the library folder) */
    content: z
      .object({ articles: z.array(z.string().min(1)).default([]), tags: z.array(z.string().min(1)).default([]) })
      .strict()
      .default({ articles: [], tags: [] }),
    roles: z.array(roleDefinitionSchema).min(1),
    enrollment: z
      .object({
        /** inclusion criteria as the team checks them (shown at enrollment) */
        criteria: z.array(z.string().min(1).max(500)).default([]),
        minAge: z.number().int().min(0).max(120).optional(),
        maxAge: z.number().int().min(0).max(120).optional(),
      })
      .strict()
      .default({ criteria: [] }),
    /** planned follow-up length; null: until the team ends it */
    durationDays: z.number().int().min(1).max(3650).nullable().default(null),
  })
  .strict();

export type ProgramDefinition = z.infer<typeof programDefinitionSchema>;
export type ProgramDefinitionInput = z.input<typeof programDefinitionSchema>;
export type RoleDefinition = z.infer<typeof roleDefinitionSchema>;

/** Stable codes of refused program definitions and changes (docs/programs.md). */
export type ProgramErrorCode =
  | 'PROGRAM_INVALID'
  | 'PROGRAM_EXISTS'
  | 'PROGRAM_NOT_FOUND'
  | 'PROGRAM_RETIRED'
  | 'PROGRAM_VERSION_CONFLICT'
  | 'RULE_UNKNOWN'
  | 'THRESHOLD_OUT_OF_RANGE'
  | 'QUESTIONNAIRE_UNKNOWN'
  | 'ROLE_INVALID';

export class ProgramError extends Error {
  constructor(
    readonly code: ProgramErrorCode,
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ProgramError';
  }
}

/** The roles the hub's code knows (hub/api/authz.ts); a program may use them or define new ones. */
export interface KnownRoles {
  clinical: ReadonlySet<string>;
  coaching: ReadonlySet<string>;
}

export interface ValidationContext {
  rules?: readonly Rule[];
  /** ids of the questionnaire definitions the hub ships */
  questionnaires: ReadonlySet<string>;
  roles: KnownRoles;
}

/**
 * Parses and checks a definition against what the hub knows: the rule catalog (each threshold by the
 * rule's own schema, with its published bounds), the questionnaire definitions and the built-in roles.
 */
export function validateDefinition(input: unknown, ctx: ValidationContext): ProgramDefinition {
  const parsed = programDefinitionSchema.safeParse(input);
  if (!parsed.success)
    throw new ProgramError(
      'PROGRAM_INVALID',
      'the program definition is not valid',
      parsed.error.issues.map((i) => `${i.path.join('.') || '(definition)'}: ${i.message}`),
    );
  const def = parsed.data;
  const catalog = ctx.rules ?? DEFAULT_RULES;
  const unknown = Object.keys(def.rules).filter((id) => !ruleById(id, catalog));
  if (unknown.length) throw new ProgramError('RULE_UNKNOWN', `no rule ${unknown.join(', ')} in the catalog`, unknown);
  const out: string[] = [];
  for (const [id, s] of Object.entries(def.rules)) {
    const rule = ruleById(id, catalog);
    const res = rule?.params.safeParse(s.params);
    if (res && !res.success)
      out.push(...res.error.issues.map((i) => `rules.${id}.params.${i.path.join('.') || '(params)'}: ${i.message}`));
    out.push(...thresholdIssues(id, s.params));
  }
  if (out.length) throw new ProgramError('THRESHOLD_OUT_OF_RANGE', 'a rule parameter is out of its range', out);
  const metrics = new Set<string>(def.metrics);
  const blind = Object.entries(def.rules)
    .filter(([id, s]) => {
      const rule = ruleById(id, catalog);
      return s.enabled && rule?.trigger === 'measurement' && !rule.metrics.some((m) => metrics.has(m));
    })
    .map(([id]) => `rules.${id}: watches none of the program's metrics`);
  const roleIds = def.roles.map((r) => r.id);
  const dup = roleIds.filter((r, i) => roleIds.indexOf(r) !== i).map((r) => `roles: ${r} is listed twice`);
  const kinds = def.roles
    .filter(
      (r) =>
        (r.kind === 'coaching' && ctx.roles.clinical.has(r.id)) ||
        (r.kind === 'clinical' && ctx.roles.coaching.has(r.id)),
    )
    .map((r) => `roles.${r.id}: a built-in ${r.kind === 'coaching' ? 'clinical' : 'coaching'} role`);
  const admin = roleIds.filter((r) => r === 'admin').map(() => 'roles: admin is not a care role');
  const coachingClinical = def.roles
    .filter((r) => r.kind === 'coaching' && r.sees.some((v) => v === 'alerts_triage'))
    .map((r) => `roles.${r.id}: a coaching role does not triage alerts`);
  const roleIssues = [...dup, ...kinds, ...admin, ...coachingClinical];
  if (roleIssues.length) throw new ProgramError('ROLE_INVALID', 'a role of the program is not valid', roleIssues);
  const missingQ = def.questionnaires.filter((q) => !ctx.questionnaires.has(q.id)).map((q) => q.id);
  if (missingQ.length)
    throw new ProgramError('QUESTIONNAIRE_UNKNOWN', `no questionnaire ${missingQ.join(', ')}`, missingQ);
  const ages =
    def.enrollment.minAge !== undefined &&
    def.enrollment.maxAge !== undefined &&
    def.enrollment.minAge > def.enrollment.maxAge
      ? ['enrollment: minAge is above maxAge']
      : [];
  if (blind.length || ages.length)
    throw new ProgramError('PROGRAM_INVALID', 'the program definition is not coherent', [...blind, ...ages]);
  return def;
}

/** The capabilities a definition gives each of its roles (stored in program_role_grants for SQL scopes). */
export function roleGrants(def: ProgramDefinition): { role: string; capability: string }[] {
  return def.roles.flatMap((r) => [
    { role: r.id, capability: 'patients.read' },
    ...[...new Set(r.sees)].map((v) => ({ role: r.id, capability: VISIBILITY_CAPABILITY[v] })),
  ]);
}
