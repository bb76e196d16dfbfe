import type { Questionnaire } from '../questionnaires/fhir';

export const RESPONSE_SYSTEM = 'urn:vigil:questionnaire-response';

/**
 * A questionnaire definition as served: the definitions are FHIR R4 Questionnaires already
 * (hub/questionnaires/definitions), validated by zod at load; served as they are.
 */
export function toQuestionnaire(
  q: Questionnaire,
): Record<string, unknown> & { resourceType: 'Questionnaire'; id: string } {
  return { ...q };
}

/** A stored answer set (questionnaire_responses.resource, built by buildResponse) with its id. */
export function toQuestionnaireResponse(r: {
  id: number;
  resource: object;
}): Record<string, unknown> & { resourceType: 'QuestionnaireResponse'; id: string } {
  return {
    ...(r.resource as Record<string, unknown>),
    resourceType: 'QuestionnaireResponse',
    id: String(r.id),
    identifier: { system: RESPONSE_SYSTEM, value: String(r.id) },
  };
}
