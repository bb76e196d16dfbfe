import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Gateway ids are pseudonymous box serials: never a patient's name. */
export const gatewayIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{2,62}$/, 'gateway id: 3-63 chars of a-z, 0-9, -');
/** BLE device address, normalised to upper-case colon form. */
export const bleAddressSchema = z
  .string()
  .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/, 'BLE address like AA:BB:CC:DD:EE:FF')
  .transform((a) => a.toUpperCase());
export const driverIdSchema = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'driver id: kebab-case');
export const patientIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'patient id: pseudonymous, 1-64 of A-Z a-z 0-9 _ -');

export const deviceRefSchema = z.object({ address: bleAddressSchema, driver: driverIdSchema });
export type DeviceRef = z.infer<typeof deviceRefSchema>;

export function deviceKey(d: DeviceRef): string {
  return `${d.driver}/${d.address.toUpperCase()}`;
}

/**
 * Deterministic reading id: the same measurement re-sent (after a reconnect, a second
 * stored-record sync, a gateway crash) gets the same id, so the hub recognises it.
 * Identity = device + metric + (device sequence number with its device time | device time as sent |
 * gateway capture key) + value.
 * Mirrors the PHD IG Observation.identifier rule (patient+device+code+timestamp).
 */
export function readingId(parts: {
  device: DeviceRef;
  metric: string;
  userIndex?: number | undefined;
  deviceTime?: string | undefined;
  sequence?: number | undefined;
  captureKey?: string | undefined;
  /** the value in the canonical unit (PHD IG identifier: patient + device + code + timestamp + value) */
  value?: number | undefined;
}): string {
  const when =
    parts.sequence !== undefined
      ? // with its time when known: a meter that renumbers its records after a reset reuses
        // sequence numbers, and the new record must not pass for the old one (a duplicate)
        `seq:${parts.sequence}${parts.deviceTime !== undefined ? `@${parts.deviceTime}` : ''}`
      : parts.deviceTime !== undefined
        ? `t:${parts.deviceTime}`
        : `cap:${parts.captureKey ?? ''}`;
  if (when === 'cap:') throw new Error('readingId needs a device time, a sequence number or a capture key');
  // the value separates two measurements stamped with the same local second, as in the hour a
  // DST fall-back repeats; a re-sent measurement decodes to the same value
  const key = [
    deviceKey(parts.device),
    parts.metric,
    parts.userIndex ?? '',
    when,
    ...(parts.value !== undefined ? [`v:${parts.value}`] : []),
  ].join('|');
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}
