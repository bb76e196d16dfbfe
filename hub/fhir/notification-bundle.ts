import { createHash } from 'node:crypto';
import type { Queryable } from '../alerts/audit';
import { SYSTEM, urnUuid } from './codes';
import { loadEpisode, loadLedgerRows } from './load';
import { toObservations } from './observation';
import { toTask } from './task';

const hex = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);

export interface NotificationRow {
  id: number;
  episodeId: number;
  /** status: a Task update (acknowledged, assigned, resolved) without a Communication */
  kind: 'opened' | 'renotified' | 'escalated' | 'status';
  severity: 'amber' | 'red';
  recipientRoles: string[];
  idempotencyKey: string;
  createdAt: Date;
}

/**
 * The webhook payload of one notification for one care team: a FHIR R4 transaction Bundle with the
 * triggering Observations (conditional create on their identifier, so re-sent readings stay single),
 * the episode's Task (conditional update on its identifier) and a Communication recording this
 * notification (conditional create on the idempotency key); a status update carries no Communication.
 */
export async function notificationBundle(
  q: Queryable,
  n: NotificationRow,
  careTeamId: string,
): Promise<Record<string, unknown>> {
  const ep = await loadEpisode(q, n.episodeId);
  if (!ep) throw new Error(`episode ${n.episodeId} not found`);
  const observations = toObservations(await loadLedgerRows(q, ep.triggerReadingIds), ep.interpretations);
  const obsUrl = (id: string) => urnUuid(id);
  const taskUrl = urnUuid(hex(`episode:${ep.id}`));
  const { rows: members } = await q.query<{ professional_id: string }>(
    `SELECT professional_id FROM care_team_members WHERE care_team_id = $1 AND role = ANY($2::text[]) ORDER BY professional_id`,
    [careTeamId, n.recipientRoles],
  );
  const communication = {
    resourceType: 'Communication',
    identifier: [{ system: SYSTEM.notification, value: n.idempotencyKey }],
    status: 'completed',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'alert' }] }],
    priority: ep.priority,
    subject: { reference: `Patient/${ep.patientId}` },
    about: [{ reference: taskUrl }],
    recipient: members.length
      ? members.map((m) => ({ reference: `Practitioner/${m.professional_id}` }))
      : [{ reference: `CareTeam/${careTeamId}` }],
    sent: n.createdAt.toISOString(),
    // ids and rule text only: no personal data leaves in the message text
    payload: [{ contentString: `${n.kind}: ${n.severity} episode ${ep.id}, ${ep.ruleTitle}. ${ep.summary}` }],
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    timestamp: n.createdAt.toISOString(),
    entry: [
      ...observations.map((o) => ({
        fullUrl: obsUrl(o.id),
        resource: o,
        request: {
          method: 'POST',
          url: 'Observation',
          ifNoneExist: `identifier=${SYSTEM.reading}|${o.identifier[0].value}`,
        },
      })),
      {
        fullUrl: taskUrl,
        resource: toTask(
          ep,
          observations.map((o) => obsUrl(o.id)),
          careTeamId,
        ),
        request: { method: 'PUT', url: `Task?identifier=${SYSTEM.episode}|${ep.id}` },
      },
      ...(n.kind === 'status'
        ? []
        : [
            {
              fullUrl: urnUuid(hex(`notification:${n.idempotencyKey}`)),
              resource: communication,
              request: {
                method: 'POST',
                url: 'Communication',
                ifNoneExist: `identifier=${SYSTEM.notification}|${n.idempotencyKey}`,
              },
            },
          ]),
    ],
  };
}
