import { SYSTEM } from './codes';
import type { EpisodeRow } from './task';

/** Flag priority, a FHIR R4 core extension (http://hl7.org/fhir/R4/extension-flag-priority.html). */
const FLAG_PRIORITY = 'http://hl7.org/fhir/StructureDefinition/flag-priority';
const FLAG_PRIORITY_CODES = 'http://hl7.org/fhir/flagPriority';
const FLAG_CATEGORY = 'http://terminology.hl7.org/CodeSystem/flag-category';

/**
 * An alert episode as a FHIR R4 Flag (http://hl7.org/fhir/R4/flag.html): the warning a clinician
 * should see when opening the record, active while the episode is not resolved, its period the
 * episode's life. The Task of the same episode (task.ts) is the work item; the Flag is the warning.
 * Severity maps to the flag-priority extension: red -> PH (high priority), amber -> PM (medium).
 */
export function toFlag(
  e: Pick<EpisodeRow, 'id' | 'patientId' | 'ruleId' | 'ruleTitle' | 'severity' | 'status' | 'openedAt' | 'summary'> & {
    resolvedAt: Date | null;
  },
): Record<string, unknown> & { resourceType: 'Flag'; id: string } {
  const high = e.severity === 'red';
  return {
    resourceType: 'Flag',
    id: String(e.id),
    extension: [
      {
        url: FLAG_PRIORITY,
        valueCodeableConcept: {
          coding: [
            {
              system: FLAG_PRIORITY_CODES,
              code: high ? 'PH' : 'PM',
              display: high ? 'High priority' : 'Medium priority',
            },
          ],
        },
      },
    ],
    identifier: [{ system: SYSTEM.episode, value: String(e.id) }],
    status: e.status === 'resolved' ? 'inactive' : 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY, code: 'clinical', display: 'Clinical' }] }],
    code: {
      coding: [{ system: SYSTEM.rule, code: e.ruleId, display: e.ruleTitle }],
      text: e.summary,
    },
    subject: { reference: `Patient/${e.patientId}` },
    period: { start: e.openedAt.toISOString(), ...(e.resolvedAt ? { end: e.resolvedAt.toISOString() } : {}) },
  };
}
