import type { MetricName } from '../../contract';
import type { Queryable } from '../alerts/audit';
import { ruleById } from '../rules/catalog';
import type { Interpretation } from '../rules/rule';
import type { LedgerRow } from './observation';
import type { EpisodeRow } from './task';

export async function loadLedgerRows(q: Queryable, readingIds: readonly string[]): Promise<LedgerRow[]> {
  if (readingIds.length === 0) return [];
  const { rows } = await q.query(
    `SELECT reading_id, patient_id, gateway_id, device_address, driver, metric, value, measured_at FROM reading_ledger
     WHERE reading_id = ANY($1::text[]) ORDER BY measured_at, metric`,
    [readingIds],
  );
  return rows.map(ledgerRow);
}

export function ledgerRow(r: Record<string, unknown>): LedgerRow {
  return {
    readingId: r.reading_id as string,
    patientId: r.patient_id as string,
    gatewayId: r.gateway_id as string,
    deviceAddress: r.device_address as string,
    driver: r.driver as string,
    metric: r.metric as MetricName,
    value: r.value as number,
    measuredAt: r.measured_at as Date,
  };
}

export const EPISODE_COLUMNS = `id, patient_id, rule_id, severity, status, priority, assignee, opened_at, updated_at, summary,
  trigger_reading_ids, interpretations, breach_count, last_value, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
  escalated_from, related_episode_ids, normal_streak, last_notified_at`;

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

export function episodeRow(r: Record<string, unknown>): FullEpisodeRow {
  const ruleId = r.rule_id as string;
  return {
    id: Number(r.id),
    patientId: r.patient_id as string,
    ruleId,
    ruleTitle: ruleById(ruleId)?.title ?? ruleId,
    severity: r.severity as 'amber' | 'red',
    status: r.status as 'open' | 'acknowledged' | 'resolved',
    priority: r.priority as 'routine' | 'urgent' | 'stat',
    assignee: (r.assignee as string | null) ?? null,
    openedAt: r.opened_at as Date,
    updatedAt: r.updated_at as Date,
    summary: r.summary as string,
    triggerReadingIds: r.trigger_reading_ids as string[],
    interpretations: (r.interpretations ?? {}) as Record<string, Interpretation>,
    breachCount: r.breach_count as number,
    lastValue: r.last_value,
    acknowledgedAt: (r.acknowledged_at as Date | null) ?? null,
    acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
    resolvedAt: (r.resolved_at as Date | null) ?? null,
    resolvedBy: (r.resolved_by as string | null) ?? null,
    escalatedFrom: (r.escalated_from as string | null) ?? null,
    relatedEpisodeIds: ((r.related_episode_ids as string[] | null) ?? []).map(Number),
    normalStreak: r.normal_streak as number,
    lastNotifiedAt: (r.last_notified_at as Date | null) ?? null,
  };
}

export async function loadEpisode(q: Queryable, id: number): Promise<FullEpisodeRow | null> {
  const { rows } = await q.query(`SELECT ${EPISODE_COLUMNS} FROM alert_episodes WHERE id = $1`, [id]);
  return rows[0] ? episodeRow(rows[0]) : null;
}
