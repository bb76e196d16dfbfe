import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { episodeRow, episodeColumns, loadEpisode, type EpisodeDbRow, type FullEpisodeRow } from '../fhir/load';
import { firstRow } from '../storage/postgres/rows';
import { audit, inTransaction, lockPatient } from './audit';
import { notify } from './notifications';

import type { Severity } from '../vocabulary';
export type { Severity };
export type EpisodeStatus = 'open' | 'acknowledged' | 'resolved';

export interface RaiseInput {
  patientId: string;
  ruleId: string;
  severity: Severity;
  readingIds: string[];
  value: unknown;
  summary?: string;
  /** the same text in French */
  summaryFr?: string;
  priority?: 'routine' | 'urgent' | 'stat';
  /** by reading id, for readings of readingIds (alert_episode_readings keeps one per counted reading) */
  interpretations?: Record<string, string>;
  /** care-team roles notified */
  notify?: readonly string[];
  /** identity of this evaluation (see recordNormal) */
  evalKey?: string;
  /** rule ids watching the same physiological event: their episodes never count as a second amber */
  sameEvent?: readonly string[];
  /**
   * how a later breach changes the text: 'append' (readings: the trigger stays, each later breach is
   * added) or 'latest' (a state such as "silent for 50 h": the trigger stays, the current state replaces the previous one)
   */
  textUpdate?: 'append' | 'latest';
}

export interface RaiseResult {
  episodeId: number;
  opened: boolean;
  escalated: boolean;
  notificationId: number | null;
}

export class TransitionError extends Error {
  readonly code = 'INVALID_TRANSITION';
}

/** docs/clinical/rules.md: two ambers for one patient within 24 h escalate to red (UKONS triage). */
export const ESCALATION_WINDOW_MS = 24 * 3_600_000;
/** docs/clinical/rules.md: red episodes re-notify every 15 min while unacknowledged. */
export const RENOTIFY_EVERY_MS = 15 * 60_000;
/** docs/clinical/rules.md: resolve only after 2 consecutive normal evaluations (hysteresis). */
export const NORMALS_TO_RESOLVE = 2;

/**
 * Alert episodes: one open (or acknowledged) episode per patient x rule, enforced by the partial
 * unique index alert_episodes_one_open, so concurrent hub instances cannot open two
 * (ThingsBoard #2986). A new breach updates the open episode (count, last value); after resolution
 * a new breach opens a new one. Changes of one patient's episodes are serialised by an advisory
 * lock so escalation (two ambers in 24 h) sees the other instance's episode. Every transition is
 * audited; times come from the caller's clock.
 */
export class EpisodeStore {
  constructor(readonly pool: pg.Pool) {}

  async raise(e: RaiseInput, now: Date = new Date()): Promise<RaiseResult> {
    return inTransaction(this.pool, async (c) => {
      await lockPatient(c, e.patientId);
      // one round trip per breach (bench/README.md, session 8): the episode's prior state, the
      // upsert, the breach's readings (a few rows of alert_episode_readings, migration 290), the
      // "opened" audit entry and, for an amber, the other ambers of the last 24 h.
      // The prior state is the open episode of this patient x rule, or a resolved one that already
      // counted these readings: readings that belong to a resolved episode are evaluated again when
      // a hub died between filing and marking them stored (the gateway re-sends), and never open a
      // new one. Sub-statements of one WITH share one snapshot and do not see each other's writes
      // (PostgreSQL docs 7.8.4): "prior" is the state before this breach, and the other ambers
      // leave out the episode this breach opens
      const { rows } = await c.query<{
        prior_id: string | null;
        prior_severity: Severity | null;
        id: string | null;
        inserted: boolean | null;
        severity: Severity | null;
        other_ambers: string[] | null;
      }>(
        named(`WITH prior AS (
           -- two index probes (the open episode by alert_episodes_one_open, the resolved ones by
           -- these readings) rather than every episode of the patient read to test either
           SELECT id, severity, resolved FROM (
             SELECT id, severity, false AS resolved FROM alert_episodes
              WHERE patient_id = $1 AND rule_id = $2 AND status <> 'resolved'
             UNION ALL
             SELECT a.id, a.severity, true FROM alert_episode_readings r JOIN alert_episodes a ON a.id = r.episode_id
              WHERE r.reading_id = ANY ($5::text[]) AND a.patient_id = $1 AND a.rule_id = $2 AND a.status = 'resolved'
           ) p ORDER BY resolved DESC, id LIMIT 1
         ), up AS (
           INSERT INTO alert_episodes (patient_id, rule_id, severity, status, last_value, opened_at, updated_at,
                                       summary, priority, last_eval_key, last_notified_at, summary_fr, last_measured_at)
           SELECT $1, $2, $3, 'open', $4::jsonb, $6::timestamptz, $6::timestamptz, $7::text, $8::text, $10::text, $6::timestamptz, $12::text,
                  (SELECT max(l.measured_at) FROM reading_ledger l WHERE l.reading_id = ANY ($5::text[]))
            WHERE NOT EXISTS (SELECT 1 FROM prior WHERE resolved)
           ON CONFLICT (patient_id, rule_id) WHERE status <> 'resolved' DO UPDATE
             SET breach_count = alert_episodes.breach_count + 1,
                 last_value = EXCLUDED.last_value,
                 updated_at = EXCLUDED.updated_at,
                 -- the trigger stays first; later breaches are appended, never overwrite it. A text
                 -- already cut at 4000 characters stays as it is (left() would give it back): the
                 -- unchanged value is not built again at every breach
                 summary = CASE WHEN alert_episodes.summary = '' THEN EXCLUDED.summary
                                WHEN $11::text = 'latest' THEN split_part(alert_episodes.summary, E'\nNow: ', 1) || E'\nNow: ' || EXCLUDED.summary
                                WHEN length(alert_episodes.summary) = 4000 THEN alert_episodes.summary
                                ELSE left(alert_episodes.summary || E'\nLater: ' || EXCLUDED.summary, 4000) END,
                 summary_fr = CASE WHEN alert_episodes.summary_fr = '' THEN EXCLUDED.summary_fr
                                WHEN $11::text = 'latest' THEN split_part(alert_episodes.summary_fr, E'\nMaintenant : ', 1) || E'\nMaintenant : ' || EXCLUDED.summary_fr
                                WHEN length(alert_episodes.summary_fr) = 4000 THEN alert_episodes.summary_fr
                                ELSE left(alert_episodes.summary_fr || E'\nPuis : ' || EXCLUDED.summary_fr, 4000) END,
                 normal_streak = 0,
                 last_eval_key = EXCLUDED.last_eval_key,
                 last_measured_at = greatest(alert_episodes.last_measured_at, EXCLUDED.last_measured_at),
                 severity = CASE WHEN EXCLUDED.severity = 'red' THEN 'red' ELSE alert_episodes.severity END
             -- a reading counts once; an evaluation counts once (two instances, re-sent readings)
             -- (looked up by reading: a long episode holds hundreds of readings, and its readings
             -- would be read whole by the primary key, which the planner prefers on the average
             -- episode's six; "+ 0" keeps it off that key)
             WHERE NOT EXISTS (SELECT 1 FROM alert_episode_readings r
                                WHERE r.reading_id = ANY ($5::text[]) AND r.episode_id + 0 = alert_episodes.id)
               AND alert_episodes.last_eval_key IS DISTINCT FROM EXCLUDED.last_eval_key
           RETURNING id, (xmax = 0) AS inserted, severity
         ), counted AS (
           -- the breach's readings, in the order given, with the rule's interpretation of each
           INSERT INTO alert_episode_readings (episode_id, reading_id, interpretation)
           SELECT up.id, t.reading_id, $9::jsonb ->> t.reading_id
             FROM up, unnest($5::text[]) WITH ORDINALITY AS t(reading_id, n)
            ORDER BY t.n
           ON CONFLICT DO NOTHING
         ), opened AS (
           INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)
           SELECT $6::timestamptz, 'system', 'episode.opened', 'alert_episode', up.id::text,
                  jsonb_build_object('ruleId', $2::text, 'severity', $3::text, 'patientId', $1::text)
             FROM up WHERE up.inserted
         )
         SELECT prior.id AS prior_id, prior.severity AS prior_severity, up.id, up.inserted, up.severity,
                CASE WHEN up.inserted AND $3::text = 'amber' THEN ARRAY(
                  SELECT o.id::text FROM alert_episodes o
                   WHERE o.patient_id = $1 AND o.opened_at > $13::timestamptz AND o.opened_at <= $6::timestamptz
                     AND (o.severity = 'amber' OR o.escalated_from = 'amber') AND NOT (o.rule_id = ANY($14::text[]))
                   ORDER BY o.id) END AS other_ambers
           FROM (SELECT 1) AS one LEFT JOIN prior ON true LEFT JOIN up ON true`),
        [
          e.patientId,
          e.ruleId,
          e.severity,
          JSON.stringify(e.value),
          e.readingIds,
          now,
          e.summary ?? '',
          e.priority ?? 'routine',
          JSON.stringify(e.interpretations ?? {}),
          e.evalKey ?? null,
          e.textUpdate ?? 'append',
          e.summaryFr ?? '',
          new Date(now.getTime() - ESCALATION_WINDOW_MS),
          [e.ruleId, ...(e.sameEvent ?? [])],
        ],
      );
      const r = firstRow({ rows }, 'episode raise');
      // nothing written: readings a resolved episode counted, or a reading or an evaluation the
      // open episode already counted
      if (r.id === null)
        return { episodeId: Number(r.prior_id ?? 0), opened: false, escalated: false, notificationId: null };
      const id = Number(r.id);
      const roles = e.notify ?? ['coordinating_nurse'];
      if (r.inserted) {
        const related = (r.other_ambers ?? []).map(Number);
        const escalated = related.length > 0;
        if (escalated) {
          await c.query(
            named(
              `UPDATE alert_episodes SET severity = 'red', escalated_from = 'amber', related_episode_ids = $2, priority = 'urgent' WHERE id = $1`,
            ),
            [id, related],
          );
          await audit(c, {
            actor: 'system',
            action: 'episode.escalated',
            entity: 'alert_episode',
            entityId: id,
            detail: { reason: 'two ambers within 24 h', related },
            at: now,
          });
        }
        const notificationId = await notify(c, {
          episodeId: id,
          patientId: e.patientId,
          ruleId: e.ruleId,
          kind: escalated ? 'escalated' : 'opened',
          severity: escalated ? 'red' : e.severity,
          recipientRoles: escalated ? [...new Set([...roles, 'coordinating_nurse'])] : roles,
          key: `vigil-episode-${id}-${escalated ? 'escalated' : 'opened'}`,
          now,
        });
        return { episodeId: id, opened: true, escalated, notificationId };
      }
      if (r.prior_severity === 'amber' && r.severity === 'red') {
        // e.g. missing data 48 h -> 72 h: same episode, now red
        await c.query(
          named(
            `UPDATE alert_episodes SET priority = 'urgent', escalated_from = 'amber', last_notified_at = $2 WHERE id = $1`,
          ),
          [id, now],
        );
        await audit(c, {
          actor: 'system',
          action: 'episode.escalated',
          entity: 'alert_episode',
          entityId: id,
          detail: { reason: 'breach at red level' },
          at: now,
        });
        const notificationId = await notify(c, {
          episodeId: id,
          patientId: e.patientId,
          ruleId: e.ruleId,
          kind: 'escalated',
          severity: 'red',
          recipientRoles: roles,
          key: `vigil-episode-${id}-escalated`,
          now,
        });
        return { episodeId: id, opened: false, escalated: true, notificationId };
      }
      return { episodeId: id, opened: false, escalated: false, notificationId: null };
    });
  }

  /**
   * A normal evaluation of the rule for the patient. The active episode's streak grows (once per
   * evaluation key), and at 2 consecutive normal evaluations the episode resolves.
   */
  async recordNormal(
    patientId: string,
    ruleId: string,
    evalKey: string,
    now: Date,
    measuredAt?: Date,
  ): Promise<{ episodeId: number; resolved: boolean } | null> {
    return inTransaction(this.pool, async (c) => {
      await lockPatient(c, patientId);
      // a normal measurement taken before the episode's latest breach (arriving late, after an
      // outage or a re-send) says nothing about the patient since then: it does not count.
      // last_measured_at is the latest measured_at of the episode's readings, kept by raise
      // (readings are in the ledger before the rules see them, and their measured_at never changes)
      // the step, the resolution it may complete and its audit entry in one round trip
      const { rows } = await c.query<{ id: string; resolved: boolean }>(
        named(`WITH stepped AS (
           UPDATE alert_episodes SET normal_streak = normal_streak + 1, last_eval_key = $3,
                  status = CASE WHEN normal_streak + 1 >= $5 THEN 'resolved' ELSE status END,
                  resolved_at = CASE WHEN normal_streak + 1 >= $5 THEN $6 ELSE resolved_at END,
                  resolved_by = CASE WHEN normal_streak + 1 >= $5 THEN 'system' ELSE resolved_by END,
                  updated_at = CASE WHEN normal_streak + 1 >= $5 THEN $6 ELSE updated_at END
            WHERE patient_id = $1 AND rule_id = $2 AND status <> 'resolved' AND last_eval_key IS DISTINCT FROM $3
              AND ($4::timestamptz IS NULL OR $4::timestamptz > coalesce(last_measured_at, '-infinity'::timestamptz))
           RETURNING id, status = 'resolved' AS resolved
         ), logged AS (
           INSERT INTO audit_log (at, actor, action, entity, entity_id, detail)
           SELECT $6, 'system', 'episode.resolved', 'alert_episode', stepped.id::text,
                  jsonb_build_object('reason', $5::int || ' consecutive normal evaluations')
             FROM stepped WHERE stepped.resolved
         )
         SELECT id, resolved FROM stepped`),
        [patientId, ruleId, evalKey, measuredAt ?? null, NORMALS_TO_RESOLVE, now],
      );
      const r = rows[0];
      if (!r) return null;
      const id = Number(r.id);
      if (!r.resolved) return { episodeId: id, resolved: false };
      await this.pushStatus(c, await existingEpisode(c, id), now);
      return { episodeId: id, resolved: true };
    });
  }

  private async transition(
    id: number,
    actor: string,
    now: Date,
    f: (ep: FullEpisodeRow) => { sql: string; params: unknown[]; action: string; detail?: object },
  ): Promise<FullEpisodeRow> {
    return inTransaction(this.pool, async (c) => {
      const ep = await loadEpisode(c, id);
      if (!ep) throw Object.assign(new Error('no such episode'), { code: 'NOT_FOUND' });
      await lockPatient(c, ep.patientId);
      const fresh = await existingEpisode(c, id);
      const t = f(fresh);
      await c.query(t.sql, [id, now, ...t.params]);
      await audit(c, {
        actor,
        action: t.action,
        entity: 'alert_episode',
        entityId: id,
        detail: t.detail ?? {},
        at: now,
      });
      const after = await existingEpisode(c, id);
      await this.pushStatus(c, after, now);
      return after;
    });
  }

  /** Queues the episode's new Task state for the care team's webhooks (receivers order by Task.lastModified). */
  private async pushStatus(c: pg.PoolClient, ep: FullEpisodeRow, now: Date): Promise<void> {
    await notify(c, {
      episodeId: ep.id,
      patientId: ep.patientId,
      ruleId: ep.ruleId,
      kind: 'status',
      severity: ep.severity,
      recipientRoles: [],
      key: `vigil-episode-${ep.id}-status-${ep.status}-${ep.assignee ?? ''}-${now.getTime()}`,
      now,
    });
  }

  /** open -> acknowledged (acknowledge is not resolve; it stops red re-notification). */
  acknowledge(id: number, actor: string, now: Date): Promise<FullEpisodeRow> {
    return this.transition(id, actor, now, (ep) => {
      if (ep.status !== 'open') throw new TransitionError(`episode is ${ep.status}`);
      return {
        sql: `UPDATE alert_episodes SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3, updated_at = $2 WHERE id = $1`,
        params: [actor],
        action: 'episode.acknowledged',
      };
    });
  }

  assign(id: number, assignee: string, actor: string, now: Date): Promise<FullEpisodeRow> {
    return this.transition(id, actor, now, (ep) => {
      if (ep.status === 'resolved') throw new TransitionError('episode is resolved');
      return {
        sql: `UPDATE alert_episodes SET assignee = $3, updated_at = $2 WHERE id = $1`,
        params: [assignee],
        action: 'episode.assigned',
        detail: { assignee, previous: ep.assignee },
      };
    });
  }

  resolve(id: number, actor: string, reason: string, now: Date): Promise<FullEpisodeRow> {
    return this.transition(id, actor, now, (ep) => {
      if (ep.status === 'resolved') throw new TransitionError('episode is already resolved');
      return {
        sql: `UPDATE alert_episodes SET status = 'resolved', resolved_at = $2, resolved_by = $3, updated_at = $2 WHERE id = $1`,
        params: [actor],
        action: 'episode.resolved',
        detail: { reason },
      };
    });
  }

  /** Red episodes still open (unacknowledged) 15 min after their last notification are notified again, once per instance set. */
  async renotifyDue(
    now: Date,
    everyMs = RENOTIFY_EVERY_MS,
    notifyRoles: (ruleId: string) => readonly string[] = () => ['coordinating_nurse'],
  ): Promise<number> {
    const due = await this.pool.query<{ id: string }>(
      `SELECT id FROM alert_episodes WHERE status = 'open' AND severity = 'red' AND last_notified_at <= $1 ORDER BY id`,
      [new Date(now.getTime() - everyMs)],
    );
    let sent = 0;
    for (const { id } of due.rows) {
      const done = await inTransaction(this.pool, async (c) => {
        // atomic claim: a second hub instance running the same tick finds nothing to claim
        const { rows } = await c.query<EpisodeDbRow>(
          `UPDATE alert_episodes SET last_notified_at = $2 WHERE id = $1 AND status = 'open' AND severity = 'red' AND last_notified_at <= $3
           RETURNING ${episodeColumns('alert_episodes')}`,
          [id, now, new Date(now.getTime() - everyMs)],
        );
        if (!rows[0]) return false;
        const ep = episodeRow(rows[0]);
        const nid = await notify(c, {
          episodeId: ep.id,
          patientId: ep.patientId,
          ruleId: ep.ruleId,
          kind: 'renotified',
          severity: 'red',
          recipientRoles: notifyRoles(ep.ruleId),
          key: `vigil-episode-${ep.id}-renotified-${now.getTime()}`,
          now,
        });
        return nid !== null;
      });
      if (done) sent++;
    }
    return sent;
  }

  async get(id: number): Promise<FullEpisodeRow | null> {
    return loadEpisode(this.pool, id);
  }
}

/** An episode this transaction has locked or just written: its absence is a NOT_FOUND, not a null. */
async function existingEpisode(c: pg.PoolClient, id: number): Promise<FullEpisodeRow> {
  const ep = await loadEpisode(c, id);
  if (!ep) throw Object.assign(new Error('no such episode'), { code: 'NOT_FOUND' });
  return ep;
}
