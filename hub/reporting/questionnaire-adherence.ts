import type pg from 'pg';
import { z } from 'zod';

/**
 * Questionnaire adherence of a cohort: questionnaires answered / questionnaires due, the completion
 * rate electronic patient-reported outcome programmes report (e.g. weekly PRO-CTCAE completion in
 * Basch et al., JAMA 2017;318:197). A questionnaire is due once at its first due date and, when
 * it repeats, every `every_days` after that until the report date; answers count from the first
 * due date, at most one per occurrence (a patient answering twice in a week is not above 100 %).
 * Figures describing fewer than `minCell` patients are masked, as the rest of the report.
 */
const cell = z.object({
  patients: z.number(),
  due: z.number().nullable(),
  answered: z.number().nullable(),
  adherencePercent: z.number().nullable(),
});
export const questionnaireAdherenceSchema = cell.extend({
  byQuestionnaire: z.array(cell.extend({ questionnaireId: z.string() })),
});
export type QuestionnaireAdherence = z.infer<typeof questionnaireAdherenceSchema>;

interface Row {
  patient_id: string;
  questionnaire_id: string;
  due: number;
  answered: number;
}

/**
 * `cohortSql` selects the cohort's patients (column `id`) with `params`; `$2` is the report date.
 */
export async function questionnaireAdherence(
  pool: pg.Pool,
  cohortSql: string,
  params: unknown[],
  minCell: number,
): Promise<QuestionnaireAdherence> {
  const { rows } = await pool.query<Row>(
    `WITH cohort AS (${cohortSql}),
     a AS (SELECT qa.patient_id, qa.questionnaire_id, qa.every_days, coalesce(qa.first_due_at, qa.next_due_at) AS first_due_at
             FROM questionnaire_assignments qa JOIN cohort c ON c.id = qa.patient_id
            WHERE coalesce(qa.first_due_at, qa.next_due_at) <= $2)
     SELECT a.patient_id, a.questionnaire_id,
            (CASE WHEN a.every_days IS NULL THEN 1
                  ELSE floor(extract(epoch FROM ($2::timestamptz - a.first_due_at)) / 86400 / a.every_days)::int + 1 END) AS due,
            (SELECT count(*)::int FROM questionnaire_responses r
              WHERE r.patient_id = a.patient_id AND r.questionnaire_id = a.questionnaire_id
                AND r.authored_at >= a.first_due_at AND r.authored_at <= $2) AS answered
       FROM a`,
    params,
  );
  const summarise = (rs: Row[]) => {
    const patients = new Set(rs.map((r) => r.patient_id)).size;
    if (patients < minCell) return { patients, due: null, answered: null, adherencePercent: null };
    const due = rs.reduce((s, r) => s + r.due, 0);
    const answered = rs.reduce((s, r) => s + Math.min(r.answered, r.due), 0);
    return { patients, due, answered, adherencePercent: due ? Math.round((1000 * answered) / due) / 10 : null };
  };
  const ids = [...new Set(rows.map((r) => r.questionnaire_id))].sort();
  return questionnaireAdherenceSchema.parse({
    ...summarise(rows),
    byQuestionnaire: ids.map((q) => ({
      questionnaireId: q,
      ...summarise(rows.filter((r) => r.questionnaire_id === q)),
    })),
  });
}
