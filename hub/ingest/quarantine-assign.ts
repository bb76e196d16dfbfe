import type pg from 'pg';
import { readingSchema } from '../../contract';
import type { RuleEngine } from '../rules/engine';
import type { TimeSeriesStore } from '../storage/influx/timeseries';
import { errorCode } from '../../contract/errors';
import { fileInLedger, markStored } from './ledger';

export type AssignOutcome =
  | { ok: true; outcome: 'stored' | 'duplicate' }
  | { ok: false; code: 'NOT_FOUND' | 'ALREADY_ASSIGNED' | 'INVALID_READING' | 'CONSENT_WITHDRAWN' };

/**
 * Files a quarantined reading (unknown device/user) for the patient a professional assigned it to:
 * the same path as ingest (ledger, time series, rules), so it appears in the patient's series and
 * is evaluated. The assignment is claimed first (one assigner wins) and released if filing fails.
 */
export async function assignQuarantinedReading(
  d: { pool: pg.Pool; timeseries: Pick<TimeSeriesStore, 'write'>; rules: Pick<RuleEngine, 'onStored'> },
  readingId: string,
  patientId: string,
  at: Date,
): Promise<AssignOutcome> {
  // a patient who withdrew consent is not processed (migration 100): the reading stays in quarantine
  const stopped = await d.pool.query<{ stopped: boolean }>('SELECT vigil_processing_stopped($1) AS stopped', [
    patientId,
  ]);
  if (stopped.rows[0]?.stopped) return { ok: false, code: 'CONSENT_WITHDRAWN' };
  const claim = await d.pool.query<{ reading: unknown }>(
    `UPDATE quarantined_readings SET assigned_patient_id = $2, assigned_at = $3 WHERE reading_id = $1 AND assigned_patient_id IS NULL RETURNING reading`,
    [readingId, patientId, at],
  );
  if (!claim.rows[0]) {
    const exists = await d.pool.query('SELECT 1 FROM quarantined_readings WHERE reading_id = $1', [readingId]);
    return { ok: false, code: exists.rowCount ? 'ALREADY_ASSIGNED' : 'NOT_FOUND' };
  }
  const parsed = readingSchema.safeParse(claim.rows[0].reading);
  try {
    if (!parsed.success) throw Object.assign(new Error('stored reading no longer valid'), { code: 'INVALID_READING' });
    const r = parsed.data;
    const ledger = await fileInLedger(d.pool, [{ reading: r, patientId }]);
    const entry = ledger.get(r.id);
    if (!entry) throw new Error(`reading ${r.id} missing from the ledger's answer`);
    if (entry.alreadyStored) return { ok: true, outcome: 'duplicate' };
    await d.timeseries.write([
      {
        readingId: r.id,
        patientId,
        gatewayId: r.gatewayId,
        deviceAddress: r.device.address,
        driver: r.device.driver,
        metric: r.metric,
        value: r.value,
        measuredAt: entry.measuredAt,
      },
    ]);
    await d.rules.onStored([
      { readingId: r.id, patientId, metric: r.metric, value: r.value, measuredAt: entry.measuredAt },
    ]);
    await markStored(d.pool, [r.id]);
    return { ok: true, outcome: 'stored' };
  } catch (e) {
    await d.pool
      .query('UPDATE quarantined_readings SET assigned_patient_id = NULL, assigned_at = NULL WHERE reading_id = $1', [
        readingId,
      ])
      .catch((releaseError: unknown) => {
        // the claim stays: the reading is neither filed nor assignable again, so this must surface
        throw new AggregateError([e, releaseError], 'reading not filed and its assignment claim not released');
      });
    if (errorCode(e) === 'INVALID_READING') return { ok: false, code: 'INVALID_READING' };
    throw e;
  }
}
