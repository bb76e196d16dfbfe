import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { notificationBundle, type NotificationRow } from '../fhir/notification-bundle';

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
  // one round trip (bench/README.md, session 8). A patient who withdrew consent is not notified
  // about (migration 100): nothing leaves the hub. A silence holds notifications to people; a
  // status update informs systems, and is sent during a silence too. Either is audited, as is
  // each notification sent; an idempotency key already used sends nothing and audits nothing
  const { rows } = await client.query<{ id: string | null; hooks: { id: string; careTeamId: string }[] | null }>(
    named(`WITH gate AS (
       SELECT vigil_processing_stopped($2::text) AS stopped,
              $3::text <> 'status' AND EXISTS (
                SELECT 1 FROM alert_silences WHERE patient_id = $2::text AND (rule_id IS NULL OR rule_id = $8::text)
                   AND starts_at <= $7::timestamptz AND ends_at > $7::timestamptz AND cancelled_at IS NULL) AS silenced
     ), sent AS (
       INSERT INTO notifications (episode_id, patient_id, kind, severity, recipient_roles, idempotency_key, created_at)
       SELECT $1::bigint, $2::text, $3::text, $4::text, $5::text[], $6::text, $7::timestamptz FROM gate
        WHERE NOT gate.stopped AND NOT gate.silenced
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
     ), logged AS (
       INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)
       SELECT $7::timestamptz, 'system',
              CASE WHEN gate.stopped THEN 'notification.withheld' WHEN gate.silenced THEN 'notification.silenced'
                   ELSE 'notification.' || $3::text END,
              'alert_episode', $1::text,
              CASE WHEN gate.stopped THEN jsonb_build_object('kind', $3::text, 'code', 'CONSENT_WITHDRAWN')
                   WHEN gate.silenced THEN jsonb_build_object('kind', $3::text)
                   ELSE jsonb_build_object('notificationId', sent.id, 'severity', $4::text) END
         FROM gate LEFT JOIN sent ON true
        WHERE gate.stopped OR gate.silenced OR (sent.id IS NOT NULL AND $3::text <> 'status')
     )
     SELECT sent.id,
            CASE WHEN sent.id IS NOT NULL THEN ARRAY(
              SELECT json_build_object('id', w.id::text, 'careTeamId', w.care_team_id)
                FROM webhooks w JOIN care_team_patients p ON p.care_team_id = w.care_team_id
               WHERE p.patient_id = $2::text AND w.active ORDER BY w.id) END AS hooks
       FROM (SELECT 1) AS one LEFT JOIN sent ON true`),
    [n.episodeId, n.patientId, n.kind, n.severity, n.recipientRoles, n.key, n.now, n.ruleId],
  );
  const sent = rows[0];
  if (!sent?.id) return null;
  const row: NotificationRow = {
    id: Number(sent.id),
    episodeId: n.episodeId,
    kind: n.kind,
    severity: n.severity,
    recipientRoles: [...n.recipientRoles],
    idempotencyKey: n.key,
    createdAt: n.now,
  };
  for (const h of sent.hooks ?? []) {
    const payload = await notificationBundle(client, row, h.careTeamId);
    await client.query(
      named(`INSERT INTO webhook_deliveries (webhook_id, notification_id, idempotency_key, payload, status, next_attempt_at, created_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $5) ON CONFLICT (webhook_id, notification_id) DO NOTHING`),
      [h.id, row.id, n.key, JSON.stringify(payload), n.now],
    );
  }
  return row.id;
}
