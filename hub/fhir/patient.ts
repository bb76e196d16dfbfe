import { SYSTEM } from './codes';

/** A row of `patients`. */
export interface PatientRow {
  id: string;
  programId: string;
  displayName: string;
  birthYear: number | null;
}

/**
 * The patient as a FHIR R4 Patient (http://hl7.org/fhir/R4/patient.html). Vigil's patient id is a
 * pseudonymous program identifier, so it is both the resource id and the identifier; the name is
 * the display name the care team entered; the birth date is the year only (a FHIR `date` may be
 * YYYY), which is all the hub keeps. The program is a meta tag so that a client can tell cohorts
 * apart without another request. (Care teams are not Patient.generalPractitioner, whose targets
 * are Practitioner and Organization only.)
 */
export function toPatient(p: PatientRow): Record<string, unknown> & { resourceType: 'Patient'; id: string } {
  return {
    resourceType: 'Patient',
    id: p.id,
    meta: { tag: [{ system: SYSTEM.program, code: p.programId }] },
    identifier: [{ use: 'secondary', system: SYSTEM.patient, value: p.id }],
    active: true,
    name: [{ use: 'usual', text: p.displayName }],
    ...(p.birthYear ? { birthDate: String(p.birthYear) } : {}),
  };
}
