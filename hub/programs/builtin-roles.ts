import { COACH_ROLES } from '../api/authz';
import { CARE_ROLES } from '../vocabulary';
import type { KnownRoles } from './definition';

/** The roles the hub's code knows; a program may list them with their view, or define new ones. */
export const BUILTIN_ROLES: KnownRoles = {
  clinical: new Set<string>(CARE_ROLES),
  coaching: new Set<string>(COACH_ROLES),
};
