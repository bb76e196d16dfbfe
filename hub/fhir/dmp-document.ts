/**
 * A patient's telemonitoring summary as a FHIR R4 document Bundle for the DMP (docs/fhir-dmp.md).
 *
 * Structure: FHIR R4 Bundle type `document`, Composition first (http://hl7.org/fhir/R4/documents.html).
 * Profiles claimed, from the ANS "FR Document Core (FHIR)" IG 0.1.0, ci-build (canonical
 * https://interop.esante.gouv.fr/ig/fhir/document-core): fr-bundle-document, fr-composition-document,
 * fr-patient-document, fr-practitioner-document, fr-practitionerRole-document,
 * fr-organization-document, fr-encounter-care-document, fr-location-document; the summarised
 * measurements claim the ANS Télésurveillance IG's tlsv-observation (https://interop.esante.gouv.fr/ig/fhir/tlsv).
 * Elements the FR Composition profile makes mandatory, and where they come from here:
 * language, identifier, subject, date, confidentiality, author (+ fr-author-time-extension),
 * attester mode legal (time, party), event with a period and a performer, custodian, encounter,
 * the R5 Composition.version extension, and sections each with code, title and narrative.
 * What is not verified (no DMP test platform here) is listed in docs/fhir-dmp.md.
 */
import type { MetricName } from '../../contract';
import { categoryOf, codingsOf, LOINC, quantity, SYSTEM } from './codes';
import { toFlag } from './flag';
import { toQuestionnaireResponse } from './questionnaire';

export const DOC_CORE = 'https://interop.esante.gouv.fr/ig/fhir/document-core/StructureDefinition';
export const TLSV = 'https://interop.esante.gouv.fr/ig/fhir/tlsv/StructureDefinition';
export const DMP_PROFILES = {
  bundle: `${DOC_CORE}/fr-bundle-document`,
  composition: `${DOC_CORE}/fr-composition-document`,
  patient: `${DOC_CORE}/fr-patient-document`,
  practitioner: `${DOC_CORE}/fr-practitioner-document`,
  practitionerRole: `${DOC_CORE}/fr-practitionerRole-document`,
  organization: `${DOC_CORE}/fr-organization-document`,
  encounter: `${DOC_CORE}/fr-encounter-care-document`,
  location: `${DOC_CORE}/fr-location-document`,
  observation: `${TLSV}/tlsv-observation`,
} as const;
/** FR Composition: the document's author time (fr-author-time-extension) */
const AUTHOR_TIME = `${DOC_CORE}/fr-author-time-extension`;
/** FR Composition: the document version, an R5 element carried by its cross-version extension */
const COMPOSITION_VERSION = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Composition.version';

/** LOINC 34133-9 "Summary of episode note": a summary of a period of care. */
export const DOCUMENT_TYPE = { system: LOINC, code: '34133-9', display: 'Summary of episode note' };
/** Section codes (LOINC). */
export const SECTIONS = {
  measurements: { system: LOINC, code: '8716-3', display: 'Vital signs' },
  alerts: { system: LOINC, code: '75310-3', display: 'Health concerns Document' },
  questionnaires: { system: LOINC, code: '47420-5', display: 'Functional status assessment note' },
} as const;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const ROLE_CODE = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';

export interface DmpInputs {
  /** a UUID: the Bundle's and the Composition's identifier */
  documentId: string;
  /** the FHIR base the entries' fullUrls are formed from */
  base: string;
  now: Date;
  period: { start: Date; end: Date };
  patient: { id: string; displayName: string; birthYear: number | null; programId: string };
  author: { id: string; displayName: string; role: string };
  careTeam: { id: string; name: string };
  measurements: {
    metric: MetricName;
    count: number;
    min: number;
    max: number;
    mean: number;
    first: Date;
    last: Date;
  }[];
  episodes: {
    id: number;
    ruleId: string;
    ruleTitle: string;
    severity: 'amber' | 'red';
    status: 'open' | 'acknowledged' | 'resolved';
    openedAt: Date;
    resolvedAt: Date | null;
    summary: string;
  }[];
  responses: { id: number; questionnaireTitle: string; authoredAt: Date; resource: object }[];
}

type Resource = Record<string, unknown> & { resourceType: string; id: string };

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const day = (d: Date) => d.toISOString().slice(0, 10);
const round = (x: number) => Math.round(x * 100) / 100;
/** A narrative table (xhtml, as FHIR narrative requires: http://hl7.org/fhir/R4/narrative.html) */
function table(head: string[], rows: string[][], empty: string): { status: 'generated'; div: string } {
  const body = rows.length
    ? `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
        .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`
    : `<p>${escapeHtml(empty)}</p>`;
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${body}</div>` };
}
/** A FHIR id ([A-Za-z0-9-.]{1,64}, http://hl7.org/fhir/R4/datatypes.html#id) from any text id. */
const fhirId = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64);

/** Builds the document Bundle. Pure: everything it shows arrives in `d`. */
export function dmpDocument(d: DmpInputs): Record<string, unknown> {
  const ids = {
    composition: d.documentId,
    patient: fhirId(d.patient.id),
    practitioner: fhirId(d.author.id),
    practitionerRole: fhirId(`role-${d.author.id}`),
    organization: fhirId(d.careTeam.id),
    encounter: fhirId(`telemonitoring-${d.patient.id}`),
    location: fhirId(`home-${d.patient.id}`),
  };
  const ref = (type: string, id: string) => ({ reference: `${type}/${id}` });
  const subject = ref('Patient', ids.patient);
  const period = { start: d.period.start.toISOString(), end: d.period.end.toISOString() };

  const patient: Resource = {
    resourceType: 'Patient',
    id: ids.patient,
    meta: { profile: [DMP_PROFILES.patient] },
    identifier: [{ use: 'secondary', system: SYSTEM.patient, value: d.patient.id }],
    name: [{ use: 'usual', text: d.patient.displayName }],
    ...(d.patient.birthYear ? { birthDate: String(d.patient.birthYear) } : {}),
  };
  const practitioner: Resource = {
    resourceType: 'Practitioner',
    id: ids.practitioner,
    meta: { profile: [DMP_PROFILES.practitioner] },
    identifier: [{ system: 'urn:vigil:professional', value: d.author.id }],
    name: [{ text: d.author.displayName }],
  };
  const organization: Resource = {
    resourceType: 'Organization',
    id: ids.organization,
    meta: { profile: [DMP_PROFILES.organization] },
    identifier: [{ system: 'urn:vigil:care-team', value: d.careTeam.id }],
    name: d.careTeam.name,
  };
  const practitionerRole: Resource = {
    resourceType: 'PractitionerRole',
    id: ids.practitionerRole,
    meta: { profile: [DMP_PROFILES.practitionerRole] },
    practitioner: ref('Practitioner', ids.practitioner),
    organization: ref('Organization', ids.organization),
    code: [{ coding: [{ system: 'urn:vigil:role', code: d.author.role }], text: d.author.role }],
  };
  const location: Resource = {
    resourceType: 'Location',
    id: ids.location,
    meta: { profile: [DMP_PROFILES.location] },
    // the patient's home: telemonitoring takes place there (v3 RoleCode PTRES)
    type: [{ coding: [{ system: ROLE_CODE, code: 'PTRES', display: "patient's residence" }] }],
    name: 'Domicile du patient',
  };
  const encounter: Resource = {
    resourceType: 'Encounter',
    id: ids.encounter,
    meta: { profile: [DMP_PROFILES.encounter] },
    identifier: [{ system: 'urn:vigil:telemonitoring', value: `${d.patient.id}:${d.patient.programId}` }],
    status: 'in-progress',
    // home health: care delivered at the patient's home (v3 ActCode HH)
    class: { system: ACT_CODE, code: 'HH', display: 'home health' },
    subject,
    period,
    location: [{ location: ref('Location', ids.location) }],
    serviceProvider: ref('Organization', ids.organization),
  };

  const observations: Resource[] = d.measurements.map((m, i) => ({
    resourceType: 'Observation',
    id: `s${i + 1}-${d.documentId}`,
    meta: { profile: [DMP_PROFILES.observation] },
    status: 'final',
    category: categoryOf(m.metric),
    code: { coding: codingsOf(m.metric), text: m.metric },
    subject,
    effectivePeriod: { start: m.first.toISOString(), end: m.last.toISOString() },
    valueQuantity: { ...quantity(m.metric, round(m.mean)) },
    // the value is the mean of the period's readings; the spread is said in words (FR profiles
    // have no element for a statistic, and FHIR R4 Observation has none either)
    method: { text: `mean of ${m.count} home readings` },
    note: [{ text: `${m.count} readings, min ${round(m.min)}, max ${round(m.max)} ${quantity(m.metric, 0).unit}` }],
  }));
  const flags: Resource[] = d.episodes.map((e) => ({
    ...toFlag({ ...e, patientId: d.patient.id }),
    subject,
    encounter: ref('Encounter', ids.encounter),
  }));
  const responses: Resource[] = d.responses.map((r) => ({
    ...toQuestionnaireResponse({ id: r.id, resource: r.resource }),
    subject,
  }));

  const composition: Resource = {
    resourceType: 'Composition',
    id: ids.composition,
    meta: { profile: [DMP_PROFILES.composition] },
    language: 'fr-FR',
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${escapeHtml(
        `Synthèse de télésurveillance du ${day(d.period.start)} au ${day(d.period.end)} (${d.patient.programId})`,
      )}</p></div>`,
    },
    extension: [{ url: COMPOSITION_VERSION, valueString: '1' }],
    identifier: { system: 'urn:vigil:dmp-document', value: d.documentId },
    status: 'final',
    type: { coding: [DOCUMENT_TYPE] },
    subject,
    encounter: ref('Encounter', ids.encounter),
    date: d.now.toISOString(),
    author: [
      {
        ...ref('PractitionerRole', ids.practitionerRole),
        extension: [{ url: AUTHOR_TIME, valueDateTime: d.now.toISOString() }],
      },
    ],
    title: 'Synthèse de télésurveillance',
    // N (normal) of v3 Confidentiality (http://terminology.hl7.org/CodeSystem/v3-Confidentiality),
    // the DMP's default level; the patient may mask a document in the DMP herself
    confidentiality: 'N',
    attester: [{ mode: 'legal', time: d.now.toISOString(), party: ref('PractitionerRole', ids.practitionerRole) }],
    custodian: ref('Organization', ids.organization),
    event: [
      {
        code: [{ text: 'Télésurveillance à domicile' }],
        period,
        extension: [
          {
            url: `${DOC_CORE}/fr-performer-event-extension`,
            valueReference: ref('PractitionerRole', ids.practitionerRole),
          },
        ],
      },
    ],
    section: [
      {
        title: 'Mesures à domicile',
        code: { coding: [SECTIONS.measurements] },
        text: table(
          ['Mesure', 'Nombre', 'Moyenne', 'Min', 'Max', 'Unité'],
          d.measurements.map((m) => [
            m.metric,
            String(m.count),
            String(round(m.mean)),
            String(round(m.min)),
            String(round(m.max)),
            quantity(m.metric, 0).unit,
          ]),
          'Aucune mesure sur la période.',
        ),
        ...(observations.length
          ? { entry: observations.map((o) => ref('Observation', o.id)) }
          : { emptyReason: { text: 'Aucune mesure sur la période' } }),
      },
      {
        title: 'Alertes',
        code: { coding: [SECTIONS.alerts] },
        text: table(
          ['Ouverte le', 'Alerte', 'Sévérité', 'Statut'],
          d.episodes.map((e) => [day(e.openedAt), e.summary, e.severity, e.status]),
          'Aucune alerte sur la période.',
        ),
        ...(flags.length
          ? { entry: flags.map((f) => ref('Flag', f.id)) }
          : { emptyReason: { text: 'Aucune alerte sur la période' } }),
      },
      {
        title: 'Questionnaires',
        code: { coding: [SECTIONS.questionnaires] },
        text: table(
          ['Date', 'Questionnaire'],
          d.responses.map((r) => [day(r.authoredAt), r.questionnaireTitle]),
          'Aucun questionnaire rempli sur la période.',
        ),
        ...(responses.length
          ? { entry: responses.map((r) => ref('QuestionnaireResponse', r.id)) }
          : { emptyReason: { text: 'Aucun questionnaire sur la période' } }),
      },
    ],
  };

  const resources = [
    composition,
    patient,
    practitionerRole,
    practitioner,
    organization,
    encounter,
    location,
    ...observations,
    ...flags,
    ...responses,
  ];
  return {
    resourceType: 'Bundle',
    id: d.documentId,
    meta: { profile: [DMP_PROFILES.bundle] },
    identifier: { system: 'urn:vigil:dmp-document', value: d.documentId },
    type: 'document',
    timestamp: d.now.toISOString(),
    // a document's entries are addressed by fullUrl; relative references resolve against them
    // (http://hl7.org/fhir/R4/bundle.html#references: RESTful fullUrls, relative references)
    entry: resources.map((r) => ({ fullUrl: `${d.base}/${r.resourceType}/${r.id}`, resource: r })),
  };
}
