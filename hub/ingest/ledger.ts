import { named } from '../storage/postgres/named';
import type pg from 'pg';
import type { Reading } from '../../contract';
import { timeTrustOf } from '../rules/time-trust';

export interface LedgerEntry {
  readingId: string;
  measuredAt: Date;
  /** true when an earlier copy was already fully stored (time series written, rules evaluated) */
  alreadyStored: boolean;
  /** this call added the row (false: an earlier copy was there) */
  inserted: boolean;
}

type Queryable = Pick<pg.Pool, 'query'>;

/**
 * The reading ledger gives exactly-once filing across re-sends and hub instances: the first copy
 * of a reading id wins (INSERT ... ON CONFLICT DO NOTHING is atomic), and its measured_at is the
 * canonical point time, so writing the time-series point again is an idempotent overwrite.
 *
 * Insert and dedup for any number of readings (many gateways' batches filed as one group): one
 * INSERT returns the rows it added; only when some ids were already there (a re-send, or another
 * hub instance filing the same reading) a second statement reads those back, with whether they
 * were stored. A first send, the common case, costs one statement and no look-up of existing ids:
 * reading every id back in the same statement was a fifth of its time (bench/README.md, session 7).
 *
 * `stored`: the rows are added already marked stored, for a caller that adds them in the same
 * transaction as their time-series write and rule evaluations (ingest's rule shards): the row
 * commits with everything else or not at all, and no UPDATE follows (bench/README.md, session 13).
 */
export async function fileInLedger(
  pool: Queryable,
  entries: readonly { reading: Reading; patientId: string }[],
  /** the hub's clock (simulated in replay); defaults to the database's now() */
  receivedAt?: Date,
  opts: { stored?: boolean } = {},
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
  // measured_at comes back as epoch milliseconds: parsing the driver's timestamp text was a
  // visible share of the hub's CPU profile (bench/README.md)
  const { rows } = await pool.query<{ reading_id: string; ms: string }>(
    named(`INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, time_trust, received_at, stored_at)
     SELECT *, coalesce($11::timestamptz, now()), CASE WHEN $12::boolean THEN now() END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::text[], $9::timestamptz[], $10::text[])
     ON CONFLICT (reading_id) DO NOTHING
     RETURNING reading_id, (extract(epoch FROM measured_at) * 1000)::bigint::text AS ms`),
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
      opts.stored ?? false,
    ],
  );
  const out = new Map<string, LedgerEntry>();
  for (const r of rows)
    out.set(r.reading_id, {
      readingId: r.reading_id,
      measuredAt: new Date(Number(r.ms)),
      alreadyStored: false,
      inserted: true,
    });
  // ids the INSERT did not add were in the ledger already (or were committed by another instance
  // meanwhile): their first copy's time, and whether it was stored
  const existing = [...new Set(cols.id.filter((id) => !out.has(id)))];
  if (existing.length) {
    const before = await pool.query<{ reading_id: string; ms: string; stored: boolean }>(
      named(`SELECT reading_id, (extract(epoch FROM measured_at) * 1000)::bigint::text AS ms, stored_at IS NOT NULL AS stored
       FROM reading_ledger WHERE reading_id = ANY($1::text[])`),
      [existing],
    );
    for (const r of before.rows)
      out.set(r.reading_id, {
        readingId: r.reading_id,
        measuredAt: new Date(Number(r.ms)),
        alreadyStored: r.stored,
        inserted: false,
      });
  }
  return out;
}

export async function markStored(pool: Queryable, readingIds: readonly string[]): Promise<void> {
  if (readingIds.length === 0) return;
  await pool.query(
    named('UPDATE reading_ledger SET stored_at = now() WHERE reading_id = ANY($1::text[]) AND stored_at IS NULL'),
    [readingIds],
  );
}

/** Readings not mapped to a patient, kept for assignment (one statement for a whole group). */
export async function quarantineAll(
  pool: Queryable,
  items: readonly { reading: Reading; reason: string }[],
): Promise<void> {
  if (items.length === 0) return;
  const r = items.map((i) => i.reading);
  await pool.query(
    named(`INSERT INTO quarantined_readings (reading_id, gateway_id, device_address, driver, user_index, metric, reading, reason)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::jsonb[], $8::text[])
     ON CONFLICT (reading_id) DO NOTHING`),
    [
      r.map((x) => x.id),
      r.map((x) => x.gatewayId),
      r.map((x) => x.device.address),
      r.map((x) => x.device.driver),
      r.map((x) => x.userIndex ?? null),
      r.map((x) => x.metric),
      r.map((x) => JSON.stringify(x)),
      items.map((i) => i.reason),
    ],
  );
}
