import type { Role } from '../../api/authz';

/**
 * Who a browser session speaks for. Professionals today; the patient space adds patients with the
 * same cookie, session table and CSRF rules (hub/web/session/sessions.ts).
 */
export type Principal =
  | { kind: 'professional'; id: string; role: Role; displayName: string }
  | { kind: 'patient'; id: string; displayName: string };

export type PrincipalKind = Principal['kind'];
