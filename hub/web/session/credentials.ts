import { hash, verify } from '@node-rs/argon2';
import { generateSecret as totpSecret, generateURI, verify as verifyTotp } from 'otplib';
import type pg from 'pg';
import { audit } from '../../alerts/audit';

/**
 * Professional credentials: argon2id password hashes (RFC 9106; OWASP Password Storage Cheat
 * Sheet parameters m=19 MiB, t=2, p=1) and an optional RFC 6238 TOTP second factor.
 */
const ARGON2 = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 12;

export async function hashPassword(password: string): Promise<string> {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw Object.assign(new Error(`password shorter than ${MIN_PASSWORD_LENGTH} characters`), {
      code: 'PASSWORD_TOO_SHORT',
    });
  // @node-rs/argon2 defaults to argon2id; the PHC string carries the parameters for later checks
  return hash(password, ARGON2);
}

/** A fixed hash checked when the login is unknown, so both answers take the same time. */
let dummyHash: Promise<string> | undefined;

export async function checkPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (!stored) {
    dummyHash ??= hash('vigil-no-such-login', ARGON2);
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}

export async function setPassword(
  pool: pg.Pool,
  professionalId: string,
  login: string,
  password: string,
  actor: string,
): Promise<void> {
  const h = await hashPassword(password);
  const { rowCount } = await pool.query('UPDATE professionals SET login = $2, password_hash = $3 WHERE id = $1', [
    professionalId,
    login,
    h,
  ]);
  if (!rowCount) throw Object.assign(new Error('no such professional'), { code: 'NOT_FOUND' });
  await audit(pool, {
    actor,
    action: 'professional.password_set',
    entity: 'professional',
    entityId: professionalId,
    at: new Date(),
  });
}

/** Turns on TOTP for a professional; returns the secret and the otpauth:// URI for her app (shown once). */
export async function enableTotp(
  pool: pg.Pool,
  professionalId: string,
  actor: string,
): Promise<{ secret: string; uri: string }> {
  const secret = totpSecret();
  await pool.query('UPDATE professionals SET totp_secret = $2 WHERE id = $1', [professionalId, secret]);
  await audit(pool, {
    actor,
    action: 'professional.totp_enabled',
    entity: 'professional',
    entityId: professionalId,
    at: new Date(),
  });
  return { secret, uri: generateURI({ issuer: 'Vigil', label: professionalId, secret }) };
}

/** One 30 s step of clock drift either way is accepted (RFC 6238 section 5.2). */
export async function checkTotp(secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const r = await verifyTotp({ secret, token: code, epochTolerance: 30 }).catch(() => undefined);
  return r?.valid === true;
}
