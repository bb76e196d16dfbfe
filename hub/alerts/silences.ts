import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { firstRow } from '../storage/postgres/rows';
import { audit } from './audit';

/** alert_silences (004) */
interface SilenceRow {
  id: string;
  patient_id: string;
  rule_id: string | null;
  starts_at: Date;
  ends_at: Date;
  reason: string;
  created_by: string;
}

export interface Silence {
  id: number;
  patientId: string;
  ruleId: string | null;
  startsAt: string;
  endsAt: string;
  reason: string;
  createdBy: string;
}

/**
 * Per-patient silences with an expiry (hospital stay, holiday): episodes are still recorded and
 * listed (flagged silenced), but no notification goes out and red ones are not re-notified.
 */
export async function createSilence(
  pool: pg.Pool,
  s: { patientId: string; ruleId?: string | null; startsAt: Date; endsAt: Date; reason: string; actor: string },
): Promise<number> {
  const inserted = await pool.query<{ id: string }>(
    named(
      `INSERT INTO alert_silences (patient_id, rule_id, starts_at, ends_at, reason, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    ),
    [s.patientId, s.ruleId ?? null, s.startsAt, s.endsAt, s.reason, s.actor],
  );
  const id = Number(firstRow(inserted, 'INSERT INTO alert_silences').id);
  await audit(pool, {
    actor: s.actor,
    action: 'silence.created',
    entity: 'patient',
    entityId: s.patientId,
    detail: { silenceId: id, ruleId: s.ruleId ?? null, endsAt: s.endsAt.toISOString() },
    at: s.startsAt,
  });
  return id;
}

export async function listSilences(pool: pg.Pool, patientId: string, now: Date): Promise<Silence[]> {
  const { rows } = await pool.query<SilenceRow>(
    `SELECT id, patient_id, rule_id, starts_at, ends_at, reason, created_by FROM alert_silences
     WHERE patient_id = $1 AND cancelled_at IS NULL AND ends_at > $2 ORDER BY starts_at`,
    [patientId, now],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    patientId: r.patient_id,
    ruleId: r.rule_id,
    startsAt: r.starts_at.toISOString(),
    endsAt: r.ends_at.toISOString(),
    reason: r.reason,
    createdBy: r.created_by,
  }));
}
