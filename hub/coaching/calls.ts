import type pg from 'pg';
import { z } from 'zod';

/** A coaching contact with the participant: scheduled, then done (with its note), missed or cancelled. */
export const CALL_CHANNELS = ['phone', 'video', 'sms', 'in_person'] as const;
export const callSchema = z.object({
  id: z.number(),
  patientId: z.string(),
  coachId: z.string(),
  channel: z.enum(CALL_CHANNELS),
  scheduledAt: z.string(),
  status: z.enum(['scheduled', 'done', 'missed', 'cancelled']),
  note: z.string().nullable(),
  reported: z.object({ cigarettesPerDay: z.number().int().min(0).max(200).optional() }),
  completedAt: z.string().nullable(),
});
export type Call = z.infer<typeof callSchema>;

interface CallRow {
  id: string;
  patient_id: string;
  coach_id: string;
  channel: Call['channel'];
  scheduled_at: Date;
  status: Call['status'];
  note: string | null;
  reported: Call['reported'];
  completed_at: Date | null;
}
const CALL_COLUMNS = 'id, patient_id, coach_id, channel, scheduled_at, status, note, reported, completed_at';
const callJson = (r: CallRow): Call => ({
  id: Number(r.id),
  patientId: r.patient_id,
  coachId: r.coach_id,
  channel: r.channel,
  scheduledAt: r.scheduled_at.toISOString(),
  status: r.status,
  note: r.note,
  reported: r.reported,
  completedAt: r.completed_at ? r.completed_at.toISOString() : null,
});

export async function listCalls(pool: pg.Pool, patientId: string): Promise<Call[]> {
  const { rows } = await pool.query<CallRow>(
    `SELECT ${CALL_COLUMNS} FROM coaching_calls WHERE patient_id = $1 ORDER BY scheduled_at DESC LIMIT 200`,
    [patientId],
  );
  return rows.map(callJson);
}

/** A coach's agenda: her calls between two instants, in time order. */
export async function coachAgenda(pool: pg.Pool, coachId: string, from: Date, to: Date): Promise<Call[]> {
  const { rows } = await pool.query<CallRow>(
    `SELECT ${CALL_COLUMNS} FROM coaching_calls WHERE coach_id = $1 AND scheduled_at >= $2 AND scheduled_at < $3
     ORDER BY scheduled_at LIMIT 500`,
    [coachId, from, to],
  );
  return rows.map(callJson);
}

export async function scheduleCall(
  pool: pg.Pool,
  c: { patientId: string; coachId: string; channel: Call['channel']; scheduledAt: Date },
  actor: string,
): Promise<Call> {
  const { rows } = await pool.query<CallRow>(
    `INSERT INTO coaching_calls (patient_id, coach_id, channel, scheduled_at, created_by) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${CALL_COLUMNS}`,
    [c.patientId, c.coachId, c.channel, c.scheduledAt, actor],
  );
  const row = rows[0];
  if (!row) throw new Error('INSERT ... RETURNING returned no row');
  return callJson(row);
}

export async function callById(pool: pg.Pool, id: number): Promise<Call | undefined> {
  const { rows } = await pool.query<CallRow>(`SELECT ${CALL_COLUMNS} FROM coaching_calls WHERE id = $1`, [id]);
  return rows[0] ? callJson(rows[0]) : undefined;
}

/** Records how a scheduled call went; undefined when it was no longer scheduled. */
export async function completeCall(
  pool: pg.Pool,
  id: number,
  outcome: {
    status: 'done' | 'missed' | 'cancelled';
    note?: string | undefined;
    reported?: Call['reported'] | undefined;
  },
  now: Date,
): Promise<Call | undefined> {
  const { rows } = await pool.query<CallRow>(
    `UPDATE coaching_calls SET status = $2, note = $3, reported = $4, completed_at = $5
     WHERE id = $1 AND status = 'scheduled' RETURNING ${CALL_COLUMNS}`,
    [id, outcome.status, outcome.note ?? null, outcome.reported ?? {}, now],
  );
  return rows[0] ? callJson(rows[0]) : undefined;
}
