import type pg from 'pg';
import type { Reading } from '../../contract';
import { timeTrustOf } from '../rules/time-trust';

export interface LedgerEntry {
  readingId: string;
  measuredAt: Date;
  /** true when an earlier copy was already fully stored (time series written, rules evaluated) */
  alreadyStored: boolean;
}

/**
 * The reading ledger gives exactly-once filing across re-sends and hub instances: the first copy
 * of a reading id wins (INSERT ... ON CONFLICT DO NOTHING is atomic), and its measured_at is the
 * canonical point time, so writing the time-series point again is an idempotent overwrite.
 */
export async function fileInLedger(
  pool: pg.Pool,
  entries: { reading: Reading; patientId: string }[],
  /** the hub's clock (simulated in replay); defaults to the database's now() */
  receivedAt?: Date,
): Promise<Map<string, LedgerEntry>> {
  if (entries.length === 0) return new Map();
  const cols = {
    id: [] as string[],
    patient: [] as string[],
    gateway: [] as string[],
    address: [] as string[],
    driver: [] as string[],
    metric: [] as string[],
    value: [] as number[],
    unit: [] as string[],
    at: [] as string[],
    trust: [] as string[],
  };
  for (const { reading: r, patientId } of entries) {
    cols.id.push(r.id);
    cols.patient.push(patientId);
    cols.gateway.push(r.gatewayId);
    cols.address.push(r.device.address);
    cols.driver.push(r.device.driver);
    cols.metric.push(r.metric);
    cols.value.push(r.value);
    cols.unit.push(r.unit);
    cols.at.push(r.measuredAt);
    cols.trust.push(timeTrustOf(r));
  }
  await pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, time_trust, received_at)
     SELECT *, coalesce($11::timestamptz, now()) FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[], $9::timestamptz[], $10::text[])
     ON CONFLICT (reading_id) DO NOTHING`,
    [
      cols.id,
      cols.patient,
      cols.gateway,
      cols.address,
      cols.driver,
      cols.metric,
      cols.value,
      cols.unit,
      cols.at,
      cols.trust,
      receivedAt ?? null,
    ],
  );
  const { rows } = await pool.query<{ reading_id: string; measured_at: Date; stored_at: Date | null }>(
    'SELECT reading_id, measured_at, stored_at FROM reading_ledger WHERE reading_id = ANY($1::text[])',
    [cols.id],
  );
  return new Map(
    rows.map((r) => [
      r.reading_id,
      { readingId: r.reading_id, measuredAt: r.measured_at, alreadyStored: r.stored_at !== null },
    ]),
  );
}

export async function markStored(pool: pg.Pool, readingIds: string[]): Promise<void> {
  if (readingIds.length === 0) return;
  await pool.query(
    'UPDATE reading_ledger SET stored_at = now() WHERE reading_id = ANY($1::text[]) AND stored_at IS NULL',
    [readingIds],
  );
}
