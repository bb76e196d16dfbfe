import { SYSTEM } from './codes';

export interface EpisodeRow {
  id: number;
  patientId: string;
  ruleId: string;
  ruleTitle: string;
  severity: 'amber' | 'red';
  status: 'open' | 'acknowledged' | 'resolved';
  priority: 'routine' | 'urgent' | 'stat';
  assignee: string | null;
  openedAt: Date;
  updatedAt: Date;
  summary: string;
}

/** Episode status -> FHIR Task.status (clinical-rules.md FHIR mapping). */
export function taskStatus(
  e: Pick<EpisodeRow, 'status' | 'assignee'>,
): 'requested' | 'accepted' | 'in-progress' | 'completed' {
  if (e.status === 'resolved') return 'completed';
  if (e.status === 'acknowledged') return e.assignee ? 'in-progress' : 'accepted';
  return e.assignee ? 'accepted' : 'requested';
}

/**
 * The episode as a FHIR R4 Task: the work item (owner, status, priority, focus -> the triggering
 * Observation; further triggering Observations in Task.input). `ref` turns an Observation id
 * into a reference (a urn:uuid inside a transaction, Observation/<id> on the read endpoint).
 */
export function toTask(
  e: EpisodeRow,
  observationRefs: string[],
  ownerCareTeamId: string | null,
): Record<string, unknown> {
  const owner = e.assignee
    ? { reference: `Practitioner/${e.assignee}` }
    : ownerCareTeamId
      ? { reference: `CareTeam/${ownerCareTeamId}` }
      : undefined;
  return {
    resourceType: 'Task',
    id: String(e.id),
    identifier: [{ system: SYSTEM.episode, value: String(e.id) }],
    status: taskStatus(e),
    businessStatus: {
      coding: [{ system: SYSTEM.severity, code: e.severity }],
      text: `${e.severity} episode, ${e.status}`,
    },
    intent: 'order',
    priority: e.priority,
    code: { coding: [{ system: SYSTEM.rule, code: e.ruleId, display: e.ruleTitle }], text: e.ruleTitle },
    description: e.summary,
    for: { reference: `Patient/${e.patientId}` },
    authoredOn: e.openedAt.toISOString(),
    lastModified: e.updatedAt.toISOString(),
    ...(owner ? { owner } : {}),
    ...(observationRefs.length ? { focus: { reference: observationRefs[observationRefs.length - 1] } } : {}),
    ...(observationRefs.length > 1
      ? {
          input: observationRefs
            .slice(0, -1)
            .map((r) => ({ type: { text: 'triggering-observation' }, valueReference: { reference: r } })),
        }
      : {}),
  };
}
