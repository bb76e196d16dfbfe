import type pg from 'pg';
import { z } from 'zod';

/**
 * Coaching goals agreed with a participant of the cardiovascular prevention program: daily steps,
 * weight and home systolic pressure (measured by the devices), cigarettes per day (reported on the
 * coaching calls). Each goal runs from a baseline to a target by a due date.
 */
export const GOAL_KINDS = ['steps_per_day', 'body_weight', 'systolic_bp', 'cigarettes_per_day'] as const;
export type GoalKind = (typeof GOAL_KINDS)[number];

/** What measures each goal over the last 7 days: a metric of the ledger, or what the calls recorded. */
export const GOAL_MEASURE: Record<
  GoalKind,
  { metric: string; daily: 'avg' | 'max'; unit: string } | { reported: string; unit: string }
> = {
  // activity trackers count up during the day: a day's steps are its largest running total
  steps_per_day: { metric: 'steps', daily: 'max', unit: 'steps/day' },
  body_weight: { metric: 'body_weight', daily: 'avg', unit: 'kg' },
  // ESH home BP: the mean of the home readings of the last week (Stergiou et al., J Hypertens 2021)
  systolic_bp: { metric: 'blood_pressure_systolic', daily: 'avg', unit: 'mmHg' },
  cigarettes_per_day: { reported: 'cigarettesPerDay', unit: 'cigarettes/day' },
};

export const goalSchema = z.object({
  id: z.number(),
  patientId: z.string(),
  kind: z.enum(GOAL_KINDS),
  unit: z.string(),
  baseline: z.number(),
  target: z.number(),
  dueOn: z.string(),
  status: z.enum(['active', 'achieved', 'stopped']),
  note: z.string().nullable(),
  setBy: z.string(),
  setAt: z.string(),
  progress: z.object({
    /** the last 7 days' value; null when nothing was measured or reported */
    current: z.number().nullable(),
    /** share of the way from baseline to target (may pass 100 % or go below 0 %) */
    percent: z.number().nullable(),
    /** share of the time from setting to due date already elapsed */
    elapsedPercent: z.number(),
    state: z.enum(['reached', 'on_track', 'behind', 'no_data', 'closed']),
  }),
});
export type Goal = z.infer<typeof goalSchema>;

interface GoalRow {
  id: string;
  patient_id: string;
  kind: GoalKind;
  baseline: number;
  target: number;
  due_on: string;
  status: 'active' | 'achieved' | 'stopped';
  note: string | null;
  set_by: string;
  set_at: Date;
}

/** The participant's value for a goal over the 7 days before `now` (null: no data). */
export async function currentValue(
  pool: pg.Pool,
  patientId: string,
  kind: GoalKind,
  now: Date,
): Promise<number | null> {
  const m = GOAL_MEASURE[kind];
  if ('reported' in m) {
    const { rows } = await pool.query<{ v: number | null }>(
      `SELECT (reported ->> $2)::float8 AS v FROM coaching_calls
       WHERE patient_id = $1 AND status = 'done' AND reported ? $2 AND completed_at <= $3
       ORDER BY completed_at DESC LIMIT 1`,
      [patientId, m.reported, now],
    );
    return rows[0]?.v ?? null;
  }
  const { rows } = await pool.query<{ v: number | null }>(
    `SELECT avg(d.v) AS v FROM (
       SELECT ${m.daily}(value) AS v FROM reading_ledger
       WHERE patient_id = $1 AND metric = $2 AND measured_at > $3::timestamptz - interval '7 days' AND measured_at <= $3
       GROUP BY date_trunc('day', measured_at)) d`,
    [patientId, m.metric, now],
  );
  return rows[0]?.v ?? null;
}

function progressOf(r: GoalRow, current: number | null, now: Date): Goal['progress'] {
  const start = r.set_at.getTime();
  const due = Date.parse(`${r.due_on}T23:59:59Z`);
  const elapsedPercent = Math.round(Math.max(0, Math.min(1, (now.getTime() - start) / Math.max(1, due - start))) * 100);
  const percent = current === null ? null : Math.round(((current - r.baseline) / (r.target - r.baseline)) * 100);
  const state =
    r.status !== 'active'
      ? 'closed'
      : percent === null
        ? 'no_data'
        : percent >= 100
          ? 'reached'
          : percent >= elapsedPercent
            ? 'on_track'
            : 'behind';
  return { current: current === null ? null : Math.round(current * 10) / 10, percent, elapsedPercent, state };
}

export async function listGoals(pool: pg.Pool, patientId: string, now: Date): Promise<Goal[]> {
  const { rows } = await pool.query<GoalRow>(
    `SELECT id, patient_id, kind, baseline, target, to_char(due_on, 'YYYY-MM-DD') AS due_on, status, note, set_by, set_at
     FROM coaching_goals WHERE patient_id = $1 ORDER BY status = 'active' DESC, set_at DESC`,
    [patientId],
  );
  const out: Goal[] = [];
  for (const r of rows) {
    const current = r.status === 'active' ? await currentValue(pool, patientId, r.kind, now) : null;
    out.push({
      id: Number(r.id),
      patientId: r.patient_id,
      kind: r.kind,
      unit: GOAL_MEASURE[r.kind].unit,
      baseline: r.baseline,
      target: r.target,
      dueOn: r.due_on,
      status: r.status,
      note: r.note,
      setBy: r.set_by,
      setAt: r.set_at.toISOString(),
      progress: progressOf(r, current, now),
    });
  }
  return out;
}

export async function createGoal(
  pool: pg.Pool,
  g: { patientId: string; kind: GoalKind; baseline: number; target: number; dueOn: string; note?: string | undefined },
  actor: string,
  now: Date,
): Promise<number> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO coaching_goals (patient_id, kind, baseline, target, due_on, note, set_by, set_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [g.patientId, g.kind, g.baseline, g.target, g.dueOn, g.note ?? null, actor, now],
  );
  const row = rows[0];
  if (!row) throw new Error('INSERT ... RETURNING returned no row');
  return Number(row.id);
}

/** Closes an active goal; false when it was not active. */
export async function closeGoal(
  pool: pg.Pool,
  id: number,
  status: 'achieved' | 'stopped',
  now: Date,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE coaching_goals SET status = $2, closed_at = $3 WHERE id = $1 AND status = 'active'`,
    [id, status, now],
  );
  return Boolean(rowCount);
}
