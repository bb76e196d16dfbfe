import type { Reading } from '../../contract';
import { INFLUX_URL } from './env';

/**
 * InfluxDB 1.x line protocol in the hub's point schema (hub/storage/influx/timeseries.ts):
 * measurement = metric, tags patient/gateway/device/driver, fields value (float) + reading_id, ms.
 */
const tag = (v: string) => v.replace(/[ ,=\\]/g, '\\$&');

export function toLine(r: Reading, patientId: string): string {
  const value = Number.isInteger(r.value) ? `${r.value}.0` : String(r.value);
  return `${r.metric},device=${tag(r.device.address)},driver=${tag(r.device.driver)},gateway=${tag(r.gatewayId)},patient=${tag(patientId)} value=${value},reading_id="${r.id}" ${Date.parse(r.measuredAt)}`;
}

/** POST /write (precision ms); throws with the server's message on a non-204. */
export async function writeLines(database: string, lines: readonly string[], rp?: string): Promise<void> {
  const u = new URL('/write', INFLUX_URL);
  u.searchParams.set('db', database);
  u.searchParams.set('precision', 'ms');
  if (rp) u.searchParams.set('rp', rp);
  const res = await fetch(u, { method: 'POST', body: lines.join('\n') });
  if (res.status !== 204) throw new Error(`INFLUX_WRITE_FAILED: ${res.status} ${await res.text()}`);
}
