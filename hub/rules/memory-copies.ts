import { named } from '../storage/postgres/named';
import type pg from 'pg';
import type { FiledReading } from './rule';

/** How many earlier receipt-dated measurements of a device are compared (a cuff memory holds 60-120). */
const LOOKBACK = 200;

const contentKey = (rs: readonly { metric: string; value: number }[]): string =>
  rs
    .map((r) => `${r.metric}=${r.value}`)
    .sort()
    .join('|');

/**
 * A device without a clock sends its stored records again at each connection, oldest first; the
 * gateway can only date them on reception, so each copy arrives as a new reading. A dump is
 * recognised by content and position, not arrival: when the first k measurements of this sync
 * repeat, in order, the last k receipt-dated measurements already stored for the device, those k
 * are copies. They are marked in the ledger (memory_copy) and not evaluated: a copy never
 * confirms its own original nor counts twice in a mean.
 */
export async function dropMemoryCopies(pool: pg.Pool, readings: readonly FiledReading[]): Promise<FiledReading[]> {
  const receipt = readings.filter((r) => r.timeTrust === 'receipt' && r.deviceAddress !== undefined);
  if (receipt.length === 0) return [...readings];
  const copies = new Set<string>();
  const byDevice = new Map<string, FiledReading[]>();
  for (const r of receipt) {
    const k = `${r.patientId}|${r.deviceAddress ?? ''}`;
    byDevice.set(k, [...(byDevice.get(k) ?? []), r]);
  }
  for (const rs of byDevice.values()) {
    const incoming = groupByTime(rs);
    const [first] = rs;
    const [head] = incoming;
    if (!first || !head) continue;
    const { rows } = await pool.query<{ reading_id: string; metric: string; value: number; measured_at: Date }>(
      named(`SELECT reading_id, metric, value, measured_at FROM reading_ledger
       WHERE patient_id = $1 AND device_address = $2 AND time_trust = 'receipt' AND NOT memory_copy
         AND measured_at < $3 AND NOT (reading_id = ANY($4::text[]))
       ORDER BY measured_at DESC LIMIT $5`),
      [first.patientId, first.deviceAddress, head.at, rs.map((r) => r.readingId), LOOKBACK],
    );
    const previous = groupByTime(rows.map((r) => ({ ...r, measuredAt: r.measured_at }))).map((g) => g.key);
    let k = Math.min(incoming.length, previous.length);
    for (; k > 0; k--) {
      const tail = previous.slice(previous.length - k);
      if (tail.every((key, i) => incoming[i]?.key === key)) break;
    }
    for (const g of incoming.slice(0, k)) for (const id of g.ids) copies.add(id);
  }
  if (copies.size === 0) return [...readings];
  await pool.query('UPDATE reading_ledger SET memory_copy = true WHERE reading_id = ANY($1::text[])', [[...copies]]);
  return readings.filter((r) => !copies.has(r.readingId));
}

function groupByTime(
  rs: readonly { reading_id?: string; readingId?: string; metric: string; value: number; measuredAt: Date }[],
): { at: Date; key: string; ids: string[] }[] {
  const m = new Map<number, typeof rs>();
  for (const r of rs) m.set(r.measuredAt.getTime(), [...(m.get(r.measuredAt.getTime()) ?? []), r]);
  return [...m]
    .sort((a, b) => a[0] - b[0])
    .map(([t, g]) => ({
      at: new Date(t),
      key: contentKey(g),
      ids: g.map((r) => r.readingId ?? r.reading_id ?? ''),
    }));
}
