import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
import type { EpisodeStore } from '../alerts/episode-store';
import type { Clock } from '../rules/clock';
import {
  answerValues,
  buildResponse,
  everyDaysOf,
  loadQuestionnaires,
  programOf,
  type Answers,
  type Questionnaire,
} from './fhir';
import { score2, Score2RangeError, type Score2Result } from './score2';
import { triageToxicity, type ToxicityOutcome } from './toxicity-triage';
import { one } from '../patient/rows';

export class QuestionnaireError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'INVALID_ANSWERS',
    message: string,
  ) {
    super(message);
  }
}

export type Outcome =
  | { kind: 'toxicity'; result: ToxicityOutcome }
  | { kind: 'score2'; result: Score2Result }
  | { kind: 'score2'; result: null; reason: string }
  | { kind: 'none' };

/** A second reminder 2 days after the first; after 2 reminders the nurse sees it on the adherence list. */
export const REMINDER_AFTER_MS = 2 * 86_400_000;
export const MAX_REMINDERS = 2;

/**
 * Questionnaires as data: assignment with a schedule, answers stored as FHIR QuestionnaireResponse,
 * scoring (UKONS triage of toxicities, SCORE2), episodes on the worklist, due notices and reminders
 * through the notification service (notify_events), adherence for the worklist.
 */
export class QuestionnaireService {
  readonly catalog: Map<string, Questionnaire>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly episodes: EpisodeStore,
    private readonly clock: Clock,
    catalog?: Map<string, Questionnaire>,
  ) {
    this.catalog = catalog ?? loadQuestionnaires();
  }

  get(id: string): Questionnaire {
    const q = this.catalog.get(id);
    if (!q) throw new QuestionnaireError('NOT_FOUND', 'no such questionnaire');
    return q;
  }

  /** Assigns a questionnaire to a patient; repeating ones follow their every-days extension. */
  async assign(patientId: string, questionnaireId: string, actor: string, firstDueAt?: Date): Promise<void> {
    const q = this.get(questionnaireId);
    await this.pool.query(
      // a new assignment (or a renewed one) counts its due occurrences from its first due date
      `INSERT INTO questionnaire_assignments (patient_id, questionnaire_id, every_days, next_due_at, first_due_at, assigned_by)
       VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (patient_id, questionnaire_id) DO UPDATE SET active = true, every_days = EXCLUDED.every_days,
         next_due_at = EXCLUDED.next_due_at, first_due_at = EXCLUDED.first_due_at`,
      [patientId, q.id, everyDaysOf(q), firstDueAt ?? this.clock.now(), actor],
    );
    await audit(this.pool, {
      actor,
      action: 'questionnaire.assigned',
      entity: 'patient',
      entityId: patientId,
      detail: { questionnaireId: q.id },
      at: this.clock.now(),
    });
  }

  /** Questionnaires due for the patient now. */
  async due(patientId: string): Promise<{ id: string; title: string; dueAt: string }[]> {
    const { rows } = await this.pool.query<{ questionnaire_id: string; next_due_at: Date }>(
      `SELECT questionnaire_id, next_due_at FROM questionnaire_assignments WHERE patient_id = $1 AND active AND next_due_at <= $2 ORDER BY next_due_at`,
      [patientId, this.clock.now()],
    );
    return rows
      .filter((r) => this.catalog.has(r.questionnaire_id))
      .map((r) => ({
        id: r.questionnaire_id,
        title: this.get(r.questionnaire_id).title,
        dueAt: r.next_due_at.toISOString(),
      }));
  }

  async submit(
    patientId: string,
    questionnaireId: string,
    answers: Answers,
    author: { kind: 'patient' | 'caregiver' | 'professional'; id: string },
  ): Promise<{ responseId: number; outcome: Outcome; episodeId: number | null }> {
    const q = this.get(questionnaireId);
    const now = this.clock.now();
    let resource: object;
    try {
      resource = buildResponse(q, answers, patientId, now, `${author.kind}:${author.id}`);
    } catch (e) {
      throw new QuestionnaireError('INVALID_ANSWERS', (e as Error).message);
    }
    const outcome = this.score(q, answerValues(resource));
    const responseId = await inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO questionnaire_responses (patient_id, questionnaire_id, author_kind, author_id, resource, outcome, authored_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [patientId, q.id, author.kind, author.id, JSON.stringify(resource), JSON.stringify(outcome), now],
      );
      // next occurrence counts from this answer; a one-off questionnaire is done
      await c.query(
        `UPDATE questionnaire_assignments SET next_due_at = CASE WHEN every_days IS NULL THEN next_due_at ELSE $3::timestamptz + every_days * interval '1 day' END,
                active = every_days IS NOT NULL, reminders_sent = 0, last_reminded_at = NULL
          WHERE patient_id = $1 AND questionnaire_id = $2`,
        [patientId, q.id, now],
      );
      await audit(c, {
        actor: `${author.kind}:${author.id}`,
        action: 'questionnaire.answered',
        entity: 'patient',
        entityId: patientId,
        detail: { questionnaireId: q.id, responseId: Number(one(rows).id) },
        at: now,
      });
      return Number(one(rows).id);
    });
    let episodeId: number | null = null;
    if (outcome.kind === 'toxicity' && outcome.result.triage !== 'green') {
      const red = outcome.result.triage === 'red';
      const res = await this.episodes.raise(
        {
          patientId,
          ruleId: 'questionnaire-toxicity',
          severity: red ? 'red' : 'amber',
          readingIds: [],
          value: { responseId, grades: outcome.result.grades },
          summary: `questionnaire (UKONS ${red ? 'red' : 'amber'}): ${outcome.result.reasons.join(', ')}`,
          priority: red ? 'urgent' : 'routine',
          notify: ['coordinating_nurse', 'oncologist'],
          evalKey: `questionnaire:${responseId}`,
        },
        now,
      );
      episodeId = res.episodeId;
      await this.pool.query('UPDATE questionnaire_responses SET episode_id = $2 WHERE id = $1', [
        responseId,
        episodeId,
      ]);
    }
    return { responseId, outcome, episodeId };
  }

  score(q: Questionnaire, a: Map<string, string | number | boolean>): Outcome {
    if (q.id === 'oral-chemo-weekly') return { kind: 'toxicity', result: triageToxicity(q, a) };
    if (q.id === 'cardio-risk') {
      if (a.get('diabetes') === true)
        return {
          kind: 'score2',
          result: null,
          reason: 'diabetes: SCORE2 does not apply (SCORE2-Diabetes, assessed by the physician)',
        };
      try {
        return {
          kind: 'score2',
          result: score2({
            age: Number(a.get('age')),
            sex: a.get('sex') === 'male' ? 'male' : 'female',
            smoker: a.get('smoker') === true,
            systolicBp: Number(a.get('systolic')),
            totalCholesterol: Number(a.get('total-cholesterol')),
            hdlCholesterol: Number(a.get('hdl-cholesterol')),
            region: 'low',
          }),
        };
      } catch (e) {
        if (e instanceof Score2RangeError) return { kind: 'score2', result: null, reason: e.message };
        throw e;
      }
    }
    return { kind: 'none' };
  }

  async responses(
    patientId: string,
  ): Promise<{ id: number; questionnaireId: string; authoredAt: string; outcome: Outcome; resource: object }[]> {
    const { rows } = await this.pool.query<{
      id: string;
      questionnaire_id: string;
      authored_at: Date;
      outcome: Outcome;
      resource: object;
    }>(
      'SELECT id, questionnaire_id, authored_at, outcome, resource FROM questionnaire_responses WHERE patient_id = $1 ORDER BY authored_at DESC LIMIT 100',
      [patientId],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      questionnaireId: r.questionnaire_id,
      authoredAt: r.authored_at.toISOString(),
      outcome: r.outcome,
      resource: r.resource,
    }));
  }

  /**
   * Due notice when a questionnaire falls due, a reminder 2 days later, at most 2: each claimed by
   * an UPDATE so several hub instances send it once. Returns the number of notices queued.
   */
  async remindDue(): Promise<number> {
    const now = this.clock.now();
    const { rows } = await this.pool.query<{ patient_id: string; questionnaire_id: string; reminders_sent: number }>(
      `UPDATE questionnaire_assignments SET last_reminded_at = $1, reminders_sent = reminders_sent + 1
        WHERE active AND next_due_at <= $1 AND reminders_sent < $2
          AND (last_reminded_at IS NULL OR last_reminded_at <= $1::timestamptz - $3 * interval '1 millisecond')
       RETURNING patient_id, questionnaire_id, reminders_sent`,
      [now, MAX_REMINDERS, REMINDER_AFTER_MS],
    );
    for (const r of rows)
      await this.pool.query(`INSERT INTO notify_events (kind, patient_id, data) VALUES ('questionnaire_due', $1, $2)`, [
        r.patient_id,
        JSON.stringify({
          questionnaireId: r.questionnaire_id,
          title: this.catalog.get(r.questionnaire_id)?.title ?? '',
          reminder: r.reminders_sent,
        }),
      ]);
    return rows.length;
  }

  /** Adherence per patient for the worklist: answered in the last 30 days, and overdue now. */
  async adherence(patientIds: string[]): Promise<
    {
      patientId: string;
      questionnaireId: string;
      answered30d: number;
      overdueSince: string | null;
      remindersSent: number;
    }[]
  > {
    const now = this.clock.now();
    const { rows } = await this.pool.query<{
      patient_id: string;
      questionnaire_id: string;
      answered: number;
      next_due_at: Date;
      reminders_sent: number;
    }>(
      `SELECT a.patient_id, a.questionnaire_id, a.next_due_at, a.reminders_sent,
              (SELECT count(*)::int FROM questionnaire_responses r WHERE r.patient_id = a.patient_id AND r.questionnaire_id = a.questionnaire_id
                 AND r.authored_at > $2::timestamptz - interval '30 days') AS answered
         FROM questionnaire_assignments a WHERE a.patient_id = ANY($1::text[]) AND a.active ORDER BY a.next_due_at`,
      [patientIds, now],
    );
    return rows.map((r) => ({
      patientId: r.patient_id,
      questionnaireId: r.questionnaire_id,
      answered30d: r.answered,
      overdueSince: r.next_due_at <= now ? r.next_due_at.toISOString() : null,
      remindersSent: r.reminders_sent,
    }));
  }

  programOf(id: string): string {
    return programOf(this.get(id));
  }
}
