import { z } from 'zod';

const BASE_SUFFIX = '-0000-1000-8000-00805f9b34fb';

/**
 * Normalises a GATT UUID: SIG-assigned 16-bit UUIDs (in any of 0x2A35, 2a35,
 * 00002a35-0000-1000-8000-00805f9b34fb) become 4 lower-case hex digits; vendor 128-bit UUIDs
 * stay full length, lower case (Core spec Vol 3 Part B 2.5.1, Bluetooth Base UUID).
 */
export function normalizeUuid(uuid: string): string {
  const u = uuid.trim().toLowerCase().replace(/^0x/, '');
  if (/^[0-9a-f]{4}$/.test(u)) return u;
  if (/^0000[0-9a-f]{4}-0000-1000-8000-00805f9b34fb$/.test(u)) return u.slice(4, 8);
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(u)) return u;
  throw new Error(`not a GATT UUID: ${uuid}`);
}

/** Full 128-bit form, as BlueZ and noble report it. */
export function fullUuid(uuid: string): string {
  const u = normalizeUuid(uuid);
  return u.length === 4 ? `0000${u}${BASE_SUFFIX}` : u;
}

export const uuidSchema = z.string().transform((s, ctx) => {
  try {
    return normalizeUuid(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
