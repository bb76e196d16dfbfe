/**
 * SMART on FHIR scopes on professionals' API tokens (docs/api.md "FHIR scopes").
 *
 * Syntax: SMART App Launch 1.0.0 "Scopes and Launch Context" (hl7.org/fhir/smart-app-launch/1.0.0/scopes-and-launch-context.html):
 * `<patient|user|system>/<ResourceType|*>.<read|write|*>`; and SMART App Launch 2.0.0 §"Scopes for
 * requesting clinical data" (hl7.org/fhir/smart-app-launch/STU2/scopes-and-launch-context.html), where
 * the permission is an ordered subset of `c r u d s` (e.g. `.rs`). This server is read-only: only
 * read (`r`, `.read`) and search (`s`, `.read`) are ever granted; a write scope is accepted at
 * issuance (it names what a client asked) but grants nothing here.
 *
 * Scopes narrow a token, never widen it: a request must be allowed by a scope AND by the role x care
 * team x consent matrix (hub/api/authz.ts). A token without a FHIR scope reads nothing under /fhir.
 * - `user/...`: whatever the professional may see;
 * - `patient/...`: only the patient the token was issued for (SMART's launch patient), which the
 *   token must then carry;
 * - `system/...`: an integration running under the professional's account (SMART Backend Services
 *   use this context); here it means the same as `user/`, the account's rights still apply.
 */
import { z } from 'zod';

export const FHIR_READ_TYPES = [
  'Patient',
  'Observation',
  'Device',
  'Task',
  'Flag',
  'Questionnaire',
  'QuestionnaireResponse',
  'Communication',
] as const;
export type FhirReadType = (typeof FHIR_READ_TYPES)[number];
export type Interaction = 'read' | 'search';

const SCOPE_RE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/;

export interface Scope {
  context: 'patient' | 'user' | 'system';
  resource: string;
  read: boolean;
  search: boolean;
}

/** Parses one scope; undefined when it is not a SMART resource scope (e.g. `openid`, `launch`). */
export function parseScope(s: string): Scope | undefined {
  const m = SCOPE_RE.exec(s);
  if (!m?.[1] || !m[2] || m[3] === undefined || m[3] === '') return undefined;
  const perm = m[3];
  // v1: .read = read + search, .* = everything; v2: the letters present
  const v1 = perm === 'read' || perm === '*' || perm === 'write';
  const read = v1 ? perm !== 'write' : perm.includes('r');
  const search = v1 ? perm !== 'write' : perm.includes('s');
  return { context: m[1] as Scope['context'], resource: m[2], read, search };
}

export class ScopeError extends Error {
  readonly code = 'INVALID_SCOPE';
}

/** zod schema of the scopes an admin issues: SMART resource scopes naming a type this server knows. */
export const scopeListSchema = z
  .array(z.string().max(80))
  .max(32)
  .superRefine((list, ctx) => {
    for (const s of list) {
      const p = parseScope(s);
      if (!p) ctx.addIssue({ code: 'custom', message: `INVALID_SCOPE: ${s} is not a SMART resource scope` });
      else if (p.resource !== '*' && !(FHIR_READ_TYPES as readonly string[]).includes(p.resource))
        ctx.addIssue({ code: 'custom', message: `INVALID_SCOPE: ${p.resource} is not served by this FHIR server` });
    }
  });

/** Checks a scope list before it is stored with a token (patient scopes need the token's patient). */
export function validateScopes(scopes: readonly string[], patientId: string | null): string[] {
  const r = scopeListSchema.safeParse(scopes);
  if (!r.success) throw new ScopeError(r.error.issues.map((i) => i.message).join('; '));
  if (patientId === null && scopes.some((s) => s.startsWith('patient/')))
    throw new ScopeError('INVALID_SCOPE: patient/ scopes need the patient the token is issued for');
  return [...new Set(scopes)].sort();
}

/** What a token's scopes grant for one interaction on one type: nothing, any patient, or one. */
export type Grant = { kind: 'none' } | { kind: 'any' } | { kind: 'patient'; patientId: string };

export function grantFor(
  scopes: readonly string[],
  tokenPatientId: string | null,
  type: FhirReadType,
  interaction: Interaction,
): Grant {
  let patientOnly = false;
  for (const s of scopes) {
    const p = parseScope(s);
    if (!p || (p.resource !== '*' && p.resource !== type) || !p[interaction]) continue;
    if (p.context !== 'patient') return { kind: 'any' };
    if (tokenPatientId !== null) patientOnly = true;
  }
  return patientOnly && tokenPatientId !== null ? { kind: 'patient', patientId: tokenPatientId } : { kind: 'none' };
}
