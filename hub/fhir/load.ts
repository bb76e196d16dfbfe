import { named } from '../storage/postgres/named';
import type { MetricName } from '../../contract';
import type { Queryable } from '../alerts/audit';
import { ruleById } from '../rules/catalog';
import type { Interpretation } from '../rules/rule';
import type { LedgerRow } from './observation';
import type { EpisodeRow } from './task';

export async function loadLedgerRows(q: Queryable, readingIds: readonly string[]): Promise<LedgerRow[]> {
  if (readingIds.length === 0) return [];
  const { rows } = await q.query<LedgerDbRow>(
    `SELECT reading_id, patient_id, gateway_id, device_address, driver, metric, value, measured_at FROM reading_ledger
     WHERE reading_id = ANY($1::text[]) ORDER BY measured_at, metric`,
    [readingIds],
  );
  return rows.map(ledgerRow);
}

/** reading_ledger (001) columns behind an Observation */
export interface LedgerDbRow {
  reading_id: string;
  patient_id: string;
  gateway_id: string;
  device_address: string;
  driver: string;
  metric: MetricName;
  value: number;
  measured_at: Date;
}

export function ledgerRow(r: LedgerDbRow): LedgerRow {
  return {
    readingId: r.reading_id,
    patientId: r.patient_id,
    gatewayId: r.gateway_id,
    deviceAddress: r.device_address,
    driver: r.driver,
    metric: r.metric,
    value: r.value,
    measuredAt: r.measured_at,
  };
}

/**
 * The alert_episodes columns (001, 004) behind a FullEpisodeRow, for a query that names the table
 * `t` (its alias, or alert_episodes itself). An episode's readings are rows of
 * alert_episode_readings (migration 290), given back as the list, in the order the episode counted
 * them, and the object of interpretations callers know.
 */
export function episodeColumns(t: string): string {
  return `${t}.id, ${t}.patient_id, ${t}.rule_id, ${t}.severity, ${t}.status, ${t}.priority, ${t}.assignee, ${t}.opened_at,
  ${t}.updated_at, ${t}.summary,
  ARRAY(SELECT r.reading_id FROM alert_episode_readings r WHERE r.episode_id = ${t}.id ORDER BY r.seq) AS trigger_reading_ids,
  (SELECT coalesce(jsonb_object_agg(r.reading_id, r.interpretation) FILTER (WHERE r.interpretation IS NOT NULL), '{}')
     FROM alert_episode_readings r WHERE r.episode_id = ${t}.id) AS interpretations,
  ${t}.breach_count, ${t}.last_value, ${t}.acknowledged_at, ${t}.acknowledged_by, ${t}.resolved_at, ${t}.resolved_by,
  ${t}.escalated_from, ${t}.related_episode_ids, ${t}.normal_streak, ${t}.last_notified_at`;
}

export type FullEpisodeRow = EpisodeRow & {
  triggerReadingIds: string[];
  interpretations: Record<string, Interpretation>;
  breachCount: number;
  lastValue: unknown;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
  escalatedFrom: string | null;
  relatedEpisodeIds: number[];
  normalStreak: number;
  lastNotifiedAt: Date | null;
};

const LOAD_EPISODE = named(`SELECT ${episodeColumns('alert_episodes')} FROM alert_episodes WHERE id = $1`);

/** alert_episodes (001, 004) and its readings (290) as selected by episodeColumns; bigint ids arrive as strings */
export interface EpisodeDbRow {
  id: string;
  patient_id: string;
  rule_id: string;
  severity: 'amber' | 'red';
  status: 'open' | 'acknowledged' | 'resolved';
  priority: 'routine' | 'urgent' | 'stat';
  assignee: string | null;
  opened_at: Date;
  updated_at: Date;
  summary: string;
  trigger_reading_ids: string[];
  interpretations: Record<string, Interpretation>;
  breach_count: number;
  last_value: unknown;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  escalated_from: string | null;
  related_episode_ids: string[];
  normal_streak: number;
  last_notified_at: Date | null;
}

export function episodeRow(r: EpisodeDbRow): FullEpisodeRow {
  const ruleId = r.rule_id;
  return {
    id: Number(r.id),
    patientId: r.patient_id,
    ruleId,
    ruleTitle: ruleById(ruleId)?.title ?? ruleId,
    severity: r.severity,
    status: r.status,
    priority: r.priority,
    assignee: r.assignee,
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    summary: r.summary,
    triggerReadingIds: r.trigger_reading_ids,
    interpretations: r.interpretations,
    breachCount: r.breach_count,
    lastValue: r.last_value,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    escalatedFrom: r.escalated_from,
    relatedEpisodeIds: r.related_episode_ids.map(Number),
    normalStreak: r.normal_streak,
    lastNotifiedAt: r.last_notified_at,
  };
}

export async function loadEpisode(q: Queryable, id: number): Promise<FullEpisodeRow | null> {
  // named: every episode resolved by ingest reads its row back (bench/README.md, session 13:
  // 2 732 plans of 0.13 ms over the ingest bench)
  const { rows } = await q.query<EpisodeDbRow>(LOAD_EPISODE, [id]);
  return rows[0] ? episodeRow(rows[0]) : null;
}
