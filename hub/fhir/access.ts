import type { FastifyRequest } from 'fastify';
import { ApiError } from '../api/errors';
import { FHIR_READ_TYPES, grantFor, type FhirReadType, type Interaction } from './scopes';

/** `/fhir/<Type>` is a search, `/fhir/<Type>/:id` a read (http://hl7.org/fhir/R4/http.html). */
const ROUTE = /^\/fhir\/([A-Za-z]+)(\/:id)?$/;

/**
 * The SMART scope check of a /fhir request (hub/fhir/scopes.ts), run before the handler's role x
 * care team x consent checks. Deny by default: a route this table cannot place, a web session
 * (no token, no scopes) or a token without a matching scope is refused with INSUFFICIENT_SCOPE.
 * A patient/ scope records the one patient the request may touch in req.fhirPatientLimit.
 */
export function checkFhirScope(req: FastifyRequest): void {
  const route = req.routeOptions.url;
  // no route: the not-found handler answers 404 (the token was already checked)
  if (route === undefined || route === '/fhir/metadata') return;
  const m = ROUTE.exec(route);
  const type = m?.[1];
  if (!type || !(FHIR_READ_TYPES as readonly string[]).includes(type))
    throw new ApiError('INSUFFICIENT_SCOPE', `no scope can grant ${req.method} ${route}`);
  const interaction: Interaction = m[2] ? 'read' : 'search';
  const t = req.tokenScopes;
  const grant = t ? grantFor(t.scopes, t.patientId, type as FhirReadType, interaction) : { kind: 'none' as const };
  if (grant.kind === 'none')
    throw new ApiError(
      'INSUFFICIENT_SCOPE',
      `this token has no scope for ${type} ${interaction} (e.g. user/${type}.read, or user/${type}.${interaction === 'read' ? 'r' : 's'})`,
    );
  if (grant.kind === 'patient') req.fhirPatientLimit = grant.patientId;
}

/**
 * The patient a patient-compartment search is about: the one asked, which must be the token's
 * patient when its scope is patient/; that patient when none is asked; undefined for any patient.
 */
export function scopedPatient(req: FastifyRequest, asked: string | undefined): string | undefined {
  const limit = req.fhirPatientLimit;
  if (limit !== undefined && asked !== undefined && asked !== limit)
    throw new ApiError('INSUFFICIENT_SCOPE', 'this token’s patient/ scope covers another patient');
  const patient = limit ?? asked;
  // the access log records the patient even when the token's scope, not the URL, named her
  if (patient !== undefined) req.auditPatientId = patient;
  return patient;
}

/** A patient-compartment search needs a patient: asked, or the token's patient/ scope. */
export function requiredPatient(req: FastifyRequest, asked: string | undefined): string {
  const p = scopedPatient(req, asked);
  if (p === undefined) throw new ApiError('INVALID_REQUEST', 'the patient search parameter is required');
  return p;
}
