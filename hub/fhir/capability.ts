import { MAX_PAGE } from './paging';

const SEARCH = 'http://hl7.org/fhir/SearchParameter';
const param = (name: string, type: string, documentation: string) => ({
  name,
  definition: `${SEARCH}/${name === '_id' ? 'Resource-id' : name}`,
  type,
  documentation,
});
const paging = [
  param('_count', 'number', `page size, 1 to ${MAX_PAGE} (default 100); further pages through Bundle.link next`),
];

/**
 * The CapabilityStatement served at /fhir/metadata (http://hl7.org/fhir/R4/capabilitystatement.html):
 * what a client may ask this server, kept next to the routes that answer it (hub/fhir/routes.ts).
 */
export function capabilityStatement(base: string): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-12-01',
    publisher: 'Vigil',
    kind: 'instance',
    software: { name: 'Vigil hub' },
    implementation: { description: 'Vigil home telemonitoring hub', url: base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Read-only. Every request but this one needs a bearer token with a SMART scope for the resource; results follow the role x care team x consent matrix of docs/api.md.',
        security: {
          // restful-security-service (http://hl7.org/fhir/R4/valueset-restful-security-service.html)
          service: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                  code: 'SMART-on-FHIR',
                  display: 'SMART-on-FHIR',
                },
              ],
              text: 'Bearer tokens carrying SMART App Launch scopes',
            },
          ],
          description:
            'Authorization: Bearer <token> of a professional. The token carries SMART App Launch scopes (v1 patient|user|system/<Type|*>.read, or v2 .r/.s/.rs), set when an admin issues it (docs/api.md "FHIR scopes"); a token without a FHIR scope reads nothing here. Scopes narrow, never widen, the role x care team x consent rules. Tokens are issued by the hub administrator, not through an OAuth authorization endpoint.',
        },
        resource: [
          {
            type: 'Patient',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              param('_id', 'token', 'pseudonymous patient id'),
              param('identifier', 'token', 'urn:vigil:patient|<id>'),
              ...paging,
            ],
          },
          {
            type: 'Observation',
            supportedProfile: [
              'http://hl7.org/fhir/StructureDefinition/vitalsigns',
              'http://hl7.org/fhir/StructureDefinition/bp',
            ],
            interaction: [{ code: 'search-type' }],
            searchParam: [
              param('patient', 'reference', 'required'),
              param('code', 'token', 'LOINC code, e.g. 85354-9 (blood pressure panel), 8310-5, 29463-7'),
              param('date', 'date', 'eq, ge, gt, le, lt; repeatable'),
              ...paging,
            ],
          },
          {
            type: 'Device',
            interaction: [{ code: 'search-type' }],
            searchParam: [param('patient', 'reference', 'required'), ...paging],
          },
          {
            type: 'Flag',
            interaction: [{ code: 'search-type' }],
            searchParam: [
              param('patient', 'reference', 'optional: every visible episode otherwise'),
              param('status', 'token', 'active | inactive'),
              ...paging,
            ],
          },
          {
            type: 'Questionnaire',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              param('_id', 'token', 'questionnaire id'),
              param('url', 'uri', 'canonical URL (a |version suffix is ignored)'),
              param('status', 'token', 'draft | active | retired'),
              ...paging,
            ],
          },
          {
            type: 'QuestionnaireResponse',
            interaction: [{ code: 'search-type' }],
            searchParam: [
              param('patient', 'reference', 'required (unless the token is limited to one patient)'),
              param('questionnaire', 'reference', 'canonical URL or Questionnaire id'),
              param('authored', 'date', 'eq, ge, gt, le, lt; repeatable'),
              ...paging,
            ],
          },
          {
            type: 'Communication',
            interaction: [{ code: 'search-type' }],
            searchParam: [
              param('patient', 'reference', 'required (unless the token is limited to one patient)'),
              param('sent', 'date', 'eq, ge, gt, le, lt; repeatable'),
              param('category', 'token', 'patient (patient and care team) | team (care team internal)'),
              ...paging,
            ],
          },
          {
            type: 'Task',
            interaction: [{ code: 'search-type' }],
            searchParam: [
              param('patient', 'reference', 'optional: every visible episode otherwise'),
              param('status', 'token', 'requested | accepted | in-progress | completed'),
              ...paging,
            ],
          },
        ],
      },
    ],
  };
}
