import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { notificationBundle, type NotificationRow } from '../fhir/notification-bundle';
import { audit } from './audit';
import { isSilenced } from './silences';

export type NotificationKind = NotificationRow['kind'];

/**
 * Records a notification of an episode and queues one webhook delivery per active webhook of each
 * care team of the patient, with its FHIR payload rendered once (retries send the same bytes).
 * Runs inside the caller's transaction. A silenced patient/rule gets no notification (audited).
 * The idempotency key is deterministic, so the same notification raised twice is stored once.
 */
export async function notify(
  client: pg.PoolClient,
  n: {
    episodeId: number;
    patientId: string;
    ruleId: string;
    kind: NotificationKind;
    severity: 'amber' | 'red';
    recipientRoles: readonly string[];
    key: string;
    now: Date;
  },
): Promise<number | null> {
  // a patient who withdrew consent is not notified about (migration 100): nothing leaves the hub
  const stopped = await client.query<{ stopped: boolean }>(named('SELECT vigil_processing_stopped($1) AS stopped'), [
    n.patientId,
  ]);
  if (stopped.rows[0]?.stopped) {
    await audit(client, {
      actor: 'system',
      action: 'notification.withheld',
      entity: 'alert_episode',
      entityId: n.episodeId,
      detail: { kind: n.kind, code: 'CONSENT_WITHDRAWN' },
      at: n.now,
    });
    return null;
  }
  // a status update informs systems, not people: it is sent during a silence too
  if (n.kind !== 'status' && (await isSilenced(client, n.patientId, n.ruleId, n.now))) {
    await audit(client, {
      actor: 'system',
      action: 'notification.silenced',
      entity: 'alert_episode',
      entityId: n.episodeId,
      detail: { kind: n.kind },
      at: n.now,
    });
    return null;
  }
  const { rows } = await client.query<{ id: string }>(
    named(`INSERT INTO notifications (episode_id, patient_id, kind, severity, recipient_roles, idempotency_key, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`),
    [n.episodeId, n.patientId, n.kind, n.severity, n.recipientRoles, n.key, n.now],
  );
  if (!rows[0]) return null;
  const row: NotificationRow = {
    id: Number(rows[0].id),
    episodeId: n.episodeId,
    kind: n.kind,
    severity: n.severity,
    recipientRoles: [...n.recipientRoles],
    idempotencyKey: n.key,
    createdAt: n.now,
  };
  if (n.kind !== 'status')
    await audit(client, {
      actor: 'system',
      action: `notification.${n.kind}`,
      entity: 'alert_episode',
      entityId: n.episodeId,
      detail: { notificationId: row.id, severity: n.severity },
      at: n.now,
    });
  const { rows: hooks } = await client.query<{ id: string; care_team_id: string }>(
    named(`SELECT w.id, w.care_team_id FROM webhooks w JOIN care_team_patients p ON p.care_team_id = w.care_team_id
     WHERE p.patient_id = $1 AND w.active ORDER BY w.id`),
    [n.patientId],
  );
  for (const h of hooks) {
    const payload = await notificationBundle(client, row, h.care_team_id);
    await client.query(
      named(`INSERT INTO webhook_deliveries (webhook_id, notification_id, idempotency_key, payload, status, next_attempt_at, created_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (webhook_id, notification_id) DO NOTHING`),
      [h.id, row.id, n.key, JSON.stringify(payload), n.now],
    );
  }
  return row.id;
}
