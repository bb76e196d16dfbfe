import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets the hub must use again (webhook HMAC keys) are kept encrypted at rest with
 * AES-256-GCM (NIST SP 800-38D) under the hub's secret key (config security.secretKey), so a copy
 * of the database (backup, dump, replica) does not let anyone sign webhooks. Format:
 * "v1:" + base64url(iv 12 bytes | tag 16 bytes | ciphertext). A value without the prefix is a
 * secret stored before encryption (read as is, sealed again by `vigil-hub seal-secrets`).
 */
const PREFIX = 'v1:';

const keyOf = (secretKey: string) => createHash('sha256').update(secretKey, 'utf8').digest();

export function seal(secretKey: string, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyOf(secretKey), iv);
  const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return PREFIX + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url');
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Opens a sealed value; a legacy clear value is returned as is. Throws SECRET_UNREADABLE on a wrong key. */
export function unseal(secretKey: string | undefined, value: string): string {
  if (!isSealed(value)) return value;
  if (!secretKey)
    throw Object.assign(new Error('sealed secret but no security.secretKey'), { code: 'SECRET_UNREADABLE' });
  const raw = Buffer.from(value.slice(PREFIX.length), 'base64url');
  const d = createDecipheriv('aes-256-gcm', keyOf(secretKey), raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    throw Object.assign(new Error('secret does not open with this key'), { code: 'SECRET_UNREADABLE' });
  }
}
