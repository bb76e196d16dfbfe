import type pg from 'pg';
import { z } from 'zod';
import { questionnaireAdherence, questionnaireAdherenceSchema } from './questionnaire-adherence';
import { meanWithCI, percentile } from './statistics';

/**
 * Program activity and outcome report, per program and optionally per care team, from
 * pseudonymised aggregates only (no patient id leaves this module). What is measured, and why:
 * - participation: enrolled, active (a reading in the last 7 days), adherence = days with at least
 *   one reading / days followed (the telemonitoring adherence measure of e.g. the TIM-HF2 trial,
 *   Koehler et al., Lancet 2018);
 * - alerts: episodes per patient-month of follow-up, time from opening to acknowledgement;
 * - questionnaires: answered / due, per questionnaire (questionnaire-adherence.ts);
 * - outcomes: change from baseline of systolic BP, weight and daily steps at 3, 6 and 12 months,
 *   mean with its 95 % confidence interval, as the programs' evaluations report them.
 * Cells describing fewer than MIN_CELL patients are suppressed (small-cell rule of French
 * health-data publications) so that a figure never singles a patient out.
 */
export const MIN_CELL = 5;
/** days after enrollment averaged as the baseline */
export const BASELINE_DAYS = 30;
/** the follow-up windows: the mean over +/- 15 days around each horizon */
export const HORIZONS = [
  { label: '3m', day: 91 },
  { label: '6m', day: 182 },
  { label: '12m', day: 365 },
] as const;
const HALF_WINDOW = 15;
const ACTIVE_DAYS = 7;

/** Outcome metrics and how one day's value is formed from that day's readings. */
export const OUTCOMES = [
  { metric: 'blood_pressure_systolic', unit: 'mmHg', daily: 'avg' },
  { metric: 'body_weight', unit: 'kg', daily: 'avg' },
  // activity trackers report a running total for the day: the day's value is its largest
  { metric: 'steps', unit: 'steps/day', daily: 'max' },
] as const;

const ci = z.object({ n: z.number(), mean: z.number(), sd: z.number(), ciLow: z.number(), ciHigh: z.number() });
export const reportSchema = z.object({
  programId: z.string(),
  careTeamId: z.string().nullable(),
  asOf: z.string(),
  minCell: z.number(),
  participation: z.object({
    enrolled: z.number(),
    active: z.number().nullable(),
    adherencePercent: z.object({ mean: z.number(), median: z.number() }).nullable(),
    patientMonths: z.number(),
  }),
  alerts: z.object({
    episodes: z.number().nullable(),
    red: z.number().nullable(),
    amber: z.number().nullable(),
    perPatientMonth: z.number().nullable(),
    acknowledged: z.number().nullable(),
    minutesToAcknowledge: z.object({ median: z.number(), p90: z.number() }).nullable(),
  }),
  /** questionnaires answered / due (hub/reporting/questionnaire-adherence.ts) */
  questionnaires: questionnaireAdherenceSchema,
  outcomes: z.array(
    z.object({
      metric: z.string(),
      unit: z.string(),
      baselineMean: z.number().nullable(),
      changes: z.array(z.object({ horizon: z.string(), change: ci.nullable(), suppressed: z.boolean() })),
    }),
  ),
});
export type CohortReport = z.infer<typeof reportSchema>;

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const small = (n: number) => n < MIN_CELL;

export interface ReportScope {
  programId: string;
  /** one care team, or every team of the program */
  careTeamId?: string | undefined;
  /** restrict to these care teams (a coordinating nurse's own) */
  careTeamIds?: readonly string[] | undefined;
  asOf: Date;
}

export async function cohortReport(pool: pg.Pool, s: ReportScope): Promise<CohortReport> {
  // the cohort: enrolled in the program (and the team) before the report date
  const cohortSql = `SELECT p.id, p.created_at AS enrolled FROM patients p
     WHERE p.program_id = $1 AND p.created_at <= $2
       AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM care_team_patients c WHERE c.patient_id = p.id AND c.care_team_id = $3))
       AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM care_team_patients c WHERE c.patient_id = p.id AND c.care_team_id = ANY($4)))`;
  const params = [s.programId, s.asOf, s.careTeamId ?? null, s.careTeamIds ? [...s.careTeamIds] : null];

  const participation = await pool.query<{ id: string; days: number; days_with_data: number; active: boolean }>(
    `WITH cohort AS (${cohortSql})
     SELECT c.id,
            greatest(1, ceil(extract(epoch FROM ($2::timestamptz - c.enrolled)) / 86400))::int AS days,
            (SELECT count(DISTINCT date_trunc('day', l.measured_at)) FROM reading_ledger l
              WHERE l.patient_id = c.id AND l.metric <> 'battery_level' AND l.measured_at BETWEEN c.enrolled AND $2)::int AS days_with_data,
            EXISTS (SELECT 1 FROM reading_ledger l WHERE l.patient_id = c.id
                      AND l.measured_at > $2::timestamptz - make_interval(days => ${ACTIVE_DAYS}) AND l.measured_at <= $2) AS active
     FROM cohort c`,
    params,
  );
  const patients = participation.rows;
  const enrolled = patients.length;
  const patientDays = patients.reduce((a, p) => a + p.days, 0);
  const patientMonths = patientDays / 30.4375;
  const adherence = patients.map((p) => (100 * Math.min(p.days_with_data, p.days)) / p.days).sort((a, b) => a - b);

  const episodes = await pool.query<{ severity: string; minutes: number | null }>(
    `WITH cohort AS (${cohortSql})
     SELECT e.severity, (extract(epoch FROM (e.acknowledged_at - e.opened_at)) / 60)::float8 AS minutes
     FROM alert_episodes e JOIN cohort c ON c.id = e.patient_id WHERE e.opened_at <= $2`,
    params,
  );
  const acked = episodes.rows
    .map((e) => e.minutes)
    .filter((m): m is number => m !== null)
    .sort((a, b) => a - b);

  const outcomes = [];
  for (const o of OUTCOMES) {
    const windows = HORIZONS.map(
      (h, i) =>
        `avg(d.v) FILTER (WHERE d.offset_days BETWEEN ${h.day - HALF_WINDOW} AND ${h.day + HALF_WINDOW - 1}) AS h${i}`,
    ).join(', ');
    const { rows } = await pool.query<Record<string, number | null>>(
      `WITH cohort AS (${cohortSql}),
       d AS (SELECT l.patient_id, ${o.daily}(l.value) AS v,
                    floor(extract(epoch FROM (date_trunc('day', l.measured_at) - date_trunc('day', c.enrolled))) / 86400) AS offset_days
             FROM reading_ledger l JOIN cohort c ON c.id = l.patient_id
             WHERE l.metric = $5 AND l.measured_at >= c.enrolled AND l.measured_at <= $2
             GROUP BY l.patient_id, date_trunc('day', l.measured_at), c.enrolled)
       SELECT avg(d.v) FILTER (WHERE d.offset_days < ${BASELINE_DAYS}) AS base, ${windows}
       FROM d GROUP BY d.patient_id`,
      [...params, o.metric],
    );
    const bases = rows.map((r) => r.base).filter((b): b is number => typeof b === 'number');
    outcomes.push({
      metric: o.metric,
      unit: o.unit,
      baselineMean: small(bases.length) ? null : round(bases.reduce((a, b) => a + b, 0) / bases.length),
      changes: HORIZONS.map((h, i) => {
        const deltas = rows.flatMap((r) => {
          const v = r[`h${i}`];
          const base = r.base;
          return typeof base === 'number' && typeof v === 'number' ? [v - base] : [];
        });
        const c = small(deltas.length) ? null : meanWithCI(deltas);
        return {
          horizon: h.label,
          change: c
            ? { n: c.n, mean: round(c.mean), sd: round(c.sd), ciLow: round(c.ciLow), ciHigh: round(c.ciHigh) }
            : null,
          suppressed: deltas.length > 0 && small(deltas.length),
        };
      }),
    });
  }

  const questionnaires = await questionnaireAdherence(pool, cohortSql, params, MIN_CELL);

  const count = (n: number) => (small(enrolled) ? null : n);
  return reportSchema.parse({
    programId: s.programId,
    careTeamId: s.careTeamId ?? null,
    asOf: s.asOf.toISOString(),
    minCell: MIN_CELL,
    participation: {
      enrolled,
      active: count(patients.filter((p) => p.active).length),
      adherencePercent: small(enrolled)
        ? null
        : {
            mean: round(adherence.reduce((a, b) => a + b, 0) / enrolled, 1),
            median: round(percentile(adherence, 0.5) ?? 0, 1),
          },
      patientMonths: round(patientMonths, 1),
    },
    alerts: {
      episodes: count(episodes.rows.length),
      red: count(episodes.rows.filter((e) => e.severity === 'red').length),
      amber: count(episodes.rows.filter((e) => e.severity === 'amber').length),
      perPatientMonth: small(enrolled) || patientMonths === 0 ? null : round(episodes.rows.length / patientMonths, 3),
      acknowledged: count(acked.length),
      minutesToAcknowledge:
        small(enrolled) || acked.length === 0
          ? null
          : { median: round(percentile(acked, 0.5) ?? 0, 1), p90: round(percentile(acked, 0.9) ?? 0, 1) },
    },
    questionnaires,
    outcomes,
  });
}
