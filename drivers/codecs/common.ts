import type { ByteReader } from './byte-reader';
import { readDateTime } from './date-time';
import type { ResultBuilder } from './fields';

/** Shared optional fields: a Date Time stamp (GSS 3.70) and a User ID (GSS 3.253, 0xFF = unknown user). */
export function readTimeStamp(r: ByteReader, b: ResultBuilder, field = 'time_stamp'): void {
  const t = readDateTime(r);
  if (t.ok) b.common.deviceTime = t.deviceTime;
  else b.reject({ field, code: 'UNKNOWN_TIME', reason: t.reason });
}

export function readUserId(r: ByteReader, b: ResultBuilder): void {
  const user = r.u8('User ID');
  if (user !== 0xff) b.common.userIndex = user;
}
