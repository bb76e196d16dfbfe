import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { lockPatient } from './audit';

/**
 * A breach of a patient x rule whose episode is open and stays at its severity (no escalation):
 * all EpisodeStore.raise would do is count it on that episode. Summaries are never empty here
 * (the fold below relies on it; an empty one goes through raise).
 */
export interface OpenEpisodeBreach {
  patientId: string;
  /** the rule the episode is filed under (the family's, see RuleEngine.familyEpisodeRule) */
  ruleId: string;
  evalKey: string;
  summary: string;
  summaryFr: string;
  value: unknown;
  readingIds: readonly string[];
  interpretations: Readonly<Record<string, string>>;
}

const keyOf = (b: { patientId: string; ruleId: string }) => `${b.patientId}|${b.ruleId}`;

/**
 * Counts a run of breaches on their open episodes in one statement, with the outcome of raising
 * them one after the other: each episode's row is updated once (count, last value, texts appended
 * in order and cut at 4000 characters, streak reset, last evaluation key, latest measured time)
 * and its new readings inserted in order. Under a reconnect storm a 7-day mean stays high over a
 * whole backlog and one episode takes 150-170 breaches in a row, one statement each
 * (bench/README.md, sessions 8 and 14); here they are one statement per pass.
 *
 * Raise skips a breach whose readings the episode (or a resolved episode of the same patient x
 * rule) already counted, or whose evaluation key is the episode's last one. Within the run these
 * are decided here, in order; against what PostgreSQL holds, an episode meeting either (a reading
 * counted before, the first key equal to the stored one), an episode gone or an empty text is left
 * unchanged, and its key returned: the caller raises its breaches one by one, as before.
 */
export async function countBreachesOnOpenEpisodes(
  client: pg.PoolClient,
  breaches: readonly OpenEpisodeBreach[],
  now: Date,
): Promise<Set<string>> {
  if (breaches.length === 0) return new Set();
  // what raise's conditions make of the run, given the episode's stored state passes the checks
  const counted = new Map<string, { readings: Set<string>; lastKey: string }>();
  const kept: OpenEpisodeBreach[] = [];
  for (const b of breaches) {
    const k = keyOf(b);
    const seen = counted.get(k);
    if (seen && (seen.lastKey === b.evalKey || b.readingIds.some((r) => seen.readings.has(r)))) continue;
    if (seen) seen.lastKey = b.evalKey;
    const readings = seen?.readings ?? new Set<string>();
    for (const r of b.readingIds) readings.add(r);
    if (!seen) counted.set(k, { readings, lastKey: b.evalKey });
    kept.push(b);
  }
  const rn: number[] = [];
  const rid: string[] = [];
  const rinterp: (string | null)[] = [];
  kept.forEach((b, n) => {
    for (const r of b.readingIds) {
      rn.push(n + 1); // the breach's ordinal in $1..$6
      rid.push(r);
      rinterp.push(b.interpretations[r] ?? null);
    }
  });
  for (const p of new Set(kept.map((b) => b.patientId))) await lockPatient(client, p);
  const { rows } = await client.query<{ patient_id: string; rule_id: string }>(
    named(`WITH b AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         WITH ORDINALITY AS b(patient_id, rule_id, eval_key, summary, summary_fr, value, n)
     ), rd AS (
       SELECT * FROM unnest($7::int[], $8::text[], $9::text[]) WITH ORDINALITY AS rd(bn, reading_id, interpretation, o)
     ), ep AS (
       SELECT b.patient_id, b.rule_id, (array_agg(b.eval_key ORDER BY b.n))[1] AS first_key,
              (array_agg(b.eval_key ORDER BY b.n DESC))[1] AS last_key,
              (array_agg(b.value ORDER BY b.n DESC))[1] AS last_value,
              count(*) AS breaches,
              string_agg(b.summary, E'\nLater: ' ORDER BY b.n) AS summary,
              string_agg(b.summary_fr, E'\nPuis : ' ORDER BY b.n) AS summary_fr,
              (SELECT max(l.measured_at) FROM b b2 JOIN rd ON rd.bn = b2.n JOIN reading_ledger l ON l.reading_id = rd.reading_id
                WHERE b2.patient_id = b.patient_id AND b2.rule_id = b.rule_id) AS measured_at
         FROM b GROUP BY b.patient_id, b.rule_id
     ), target AS (
       SELECT a.id, ep.* FROM ep JOIN alert_episodes a
           ON a.patient_id = ep.patient_id AND a.rule_id = ep.rule_id AND a.status <> 'resolved'
        WHERE a.last_eval_key IS DISTINCT FROM ep.first_key AND a.summary <> '' AND a.summary_fr <> ''
          -- a reading counted before by an episode of this patient x rule (a re-evaluated reading)
          AND NOT EXISTS (SELECT 1 FROM b JOIN rd ON rd.bn = b.n
                            JOIN alert_episode_readings r ON r.reading_id = rd.reading_id
                            JOIN alert_episodes o ON o.id = r.episode_id
                           WHERE b.patient_id = ep.patient_id AND b.rule_id = ep.rule_id
                             AND o.patient_id = ep.patient_id AND o.rule_id = ep.rule_id)
     ), up AS (
       UPDATE alert_episodes a
          SET breach_count = a.breach_count + t.breaches,
              last_value = t.last_value::jsonb,
              updated_at = $10::timestamptz,
              -- raise's text rule applied breach after breach: the trigger stays first, each later
              -- text appended, the whole cut once at 4000 characters and then left as it is
              summary = CASE WHEN length(a.summary) = 4000 THEN a.summary
                             ELSE left(a.summary || E'\nLater: ' || t.summary, 4000) END,
              summary_fr = CASE WHEN length(a.summary_fr) = 4000 THEN a.summary_fr
                                ELSE left(a.summary_fr || E'\nPuis : ' || t.summary_fr, 4000) END,
              normal_streak = 0,
              last_eval_key = t.last_key,
              last_measured_at = greatest(a.last_measured_at, t.measured_at)
         FROM target t WHERE a.id = t.id
       RETURNING a.id, a.patient_id, a.rule_id
     ), readings AS (
       INSERT INTO alert_episode_readings (episode_id, reading_id, interpretation)
       SELECT up.id, rd.reading_id, rd.interpretation
         FROM up JOIN b ON b.patient_id = up.patient_id AND b.rule_id = up.rule_id JOIN rd ON rd.bn = b.n
        ORDER BY rd.o
       ON CONFLICT DO NOTHING
     )
     SELECT ep.patient_id, ep.rule_id FROM ep
      WHERE NOT EXISTS (SELECT 1 FROM target t WHERE t.patient_id = ep.patient_id AND t.rule_id = ep.rule_id)`),
    [
      kept.map((b) => b.patientId),
      kept.map((b) => b.ruleId),
      kept.map((b) => b.evalKey),
      kept.map((b) => b.summary),
      kept.map((b) => b.summaryFr),
      kept.map((b) => JSON.stringify(b.value)),
      rn,
      rid,
      rinterp,
      now,
    ],
  );
  return new Set(rows.map((r) => `${r.patient_id}|${r.rule_id}`));
}
