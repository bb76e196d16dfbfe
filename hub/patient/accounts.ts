import { randomBytes, randomInt, scryptSync, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
import type { Clock } from '../rules/clock';
import { FailureLimiter, type FailureLimit } from '../security/failure-limiter';
import { hashSecret } from '../security/secrets';
import type { NotifyService, Recipient } from '../notify/service';
import { one } from './rows';

export type SubjectKind = 'patient' | 'caregiver';

/** Who is signed in to the patient space: the patient herself, or a caregiver she granted. */
export interface PortalSubject {
  kind: SubjectKind;
  id: string;
  patientId: string;
}

export class PortalError extends Error {
  constructor(
    readonly code:
      'CODE_INVALID' | 'CODE_RATE_LIMITED' | 'CHANNEL_UNAVAILABLE' | 'NOT_FOUND' | 'CONFLICT' | 'INVALID_REQUEST',
    message: string,
  ) {
    super(message);
  }
}

/** A one-time code lives 10 minutes and allows 5 tries (NIST SP 800-63B section 5.1.3 / 5.2.2). */
export const CODE_TTL_MS = 10 * 60_000;
export const CODE_MAX_ATTEMPTS = 5;
/** At most 3 codes per person per 15 minutes: a mistyped address cannot be used to flood someone. */
export const CODES_PER_WINDOW = 3;
export const CODE_WINDOW_MS = 15 * 60_000;
/**
 * "Send me a code" per client address (known and unknown addresses alike): 10 requests per 15
 * minutes, then blocked 15 minutes, doubled at each new block within a day, up to 4 hours (OWASP
 * Authentication Cheat Sheet, "Login Throttling"; NIST SP 800-63B section 5.2.2 rate limiting).
 */
export const CODE_REQUESTS_PER_CLIENT: FailureLimit = {
  failures: 10,
  windowSec: 15 * 60,
  blockSec: 15 * 60,
  maxBlockSec: 4 * 3600,
};
/** A printed QR code is valid 30 days (printed at enrolment, scanned at home), once. */
export const QR_TTL_MS = 30 * 86_400_000;
/** Sessions last 30 days: no password to remember, sign-in is rare; revocable at any time. */
export const SESSION_TTL_MS = 30 * 86_400_000;

// 6-digit codes have little entropy: a slow salted hash (scrypt) makes a dump of the table useless
// within their 10 minutes; attempts are limited online.
function hashCode(code: string): string {
  const salt = randomBytes(16);
  return `${salt.toString('base64')}:${scryptSync(code, salt, 32).toString('base64')}`;
}
function codeMatches(code: string, stored: string): boolean {
  const [salt, hash] = stored.split(':');
  if (!salt || !hash) return false;
  const a = scryptSync(code, Buffer.from(salt, 'base64'), 32);
  const b = Buffer.from(hash, 'base64');
  return a.length === b.length && timingSafeEqual(a, b);
}

export const normaliseEmail = (s: string): string => s.trim().toLowerCase();
/** French numbers written 06 12 34 56 78 or +33 6 12 34 56 78 become +33612345678 (E.164). */
export function normalisePhone(s: string): string {
  const digits = s.replace(/[\s.()-]/g, '');
  if (/^0[1-9]\d{8}$/.test(digits)) return `+33${digits.slice(1)}`;
  return digits;
}

/**
 * Patient and caregiver accounts of the patient space: contact details, one-time codes by e-mail
 * or SMS, printed QR codes, sessions, caregivers granted and revoked by the patient. Only hashes of
 * codes and session tokens are stored; every step is audited without personal data.
 */
export class PatientAccounts {
  private readonly codeRequests: FailureLimiter;
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly notify: NotifyService,
    private readonly clock: Clock,
    codeRequestLimit: FailureLimit = CODE_REQUESTS_PER_CLIENT,
  ) {
    this.codeRequests = new FailureLimiter(codeRequestLimit);
  }

  /**
   * "Send me a code" from a client address. Every request counts against the address, known or
   * unknown, and the work (looking the address up, sending) runs after the answer: the caller
   * learns nothing from the status or the time taken (no account enumeration). Past the limit:
   * RATE_LIMITED with the wait, for every address alike.
   */
  async requestCodeFrom(
    client: string,
    address: string,
    onError: (e: unknown) => void,
  ): Promise<{ retryAfterMs: number } | null> {
    const key = `portal-code:${client}`;
    const wait = (await this.codeRequests.retryAfterMs(key)) || (await this.codeRequests.fail(key));
    if (wait > 0) {
      await audit(this.pool, {
        actor: 'anonymous',
        action: 'portal.code_rate_limited',
        entity: 'portal',
        entityId: 'client',
        at: this.clock.now(),
      });
      return { retryAfterMs: wait };
    }
    const job = this.requestCode(address).catch(onError);
    this.sending.add(job);
    void job.finally(() => this.sending.delete(job));
    return null;
  }

  /** Waits for the codes still being sent (hub shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  async setContact(
    patientId: string,
    c: { email?: string | null; phone?: string | null; locale?: 'fr' | 'en' },
    actor: string,
  ): Promise<void> {
    const email = c.email ? normaliseEmail(c.email) : null;
    const phone = c.phone ? normalisePhone(c.phone) : null;
    const { rowCount } = await this.pool.query(
      `INSERT INTO patient_accounts (patient_id, email, phone, locale) SELECT id, $2, $3, $4 FROM patients WHERE id = $1
       ON CONFLICT (patient_id) DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone, locale = EXCLUDED.locale, updated_at = now()`,
      [patientId, email, phone, c.locale ?? 'fr'],
    );
    if (!rowCount) throw new PortalError('NOT_FOUND', 'no such patient');
    await audit(this.pool, {
      actor,
      action: 'patient.contact_set',
      entity: 'patient',
      entityId: patientId,
      at: this.clock.now(),
    });
  }

  /** People (patient or caregivers still granted) with this e-mail address or phone number. */
  private async byAddress(address: string): Promise<(PortalSubject & { recipient: Recipient })[]> {
    const email = address.includes('@') ? normaliseEmail(address) : null;
    const phone = email ? null : normalisePhone(address);
    const { rows } = await this.pool.query<{
      kind: SubjectKind;
      id: string;
      patient_id: string;
      email: string | null;
      phone: string | null;
      locale: 'fr' | 'en' | null;
    }>(
      `SELECT 'patient' AS kind, a.patient_id AS id, a.patient_id, a.email, a.phone, a.locale FROM patient_accounts a
        WHERE ($1::text IS NOT NULL AND a.email = $1) OR ($2::text IS NOT NULL AND a.phone = $2)
       UNION ALL
       SELECT 'caregiver', c.id, c.patient_id, c.email, c.phone, a.locale FROM caregivers c LEFT JOIN patient_accounts a ON a.patient_id = c.patient_id
        WHERE c.revoked_at IS NULL AND (($1::text IS NOT NULL AND c.email = $1) OR ($2::text IS NOT NULL AND c.phone = $2))`,
      [email, phone],
    );
    return rows.map((r) => ({
      kind: r.kind,
      id: r.id,
      patientId: r.patient_id,
      recipient: {
        kind: r.kind,
        id: r.id,
        email: r.email,
        phone: r.phone,
        locale: r.locale ?? 'fr',
        quietStart: 0,
        quietEnd: 0,
      },
    }));
  }

  /**
   * Sends a one-time code to whoever has this address. Unknown addresses are only audited; a person
   * who already had 3 codes in 15 minutes gets no fourth (audited), without an error that would tell
   * a known address from an unknown one.
   */
  async requestCode(address: string): Promise<void> {
    const now = this.clock.now();
    const people = await this.byAddress(address);
    const channel = address.includes('@') ? 'email' : 'sms';
    for (const p of people) {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      // count and insert under a per-person lock: concurrent requests (or hub instances) cannot both pass
      const codeId = await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`signin:${p.kind}:${p.id}`]);
        const { rows } = await c.query<{ n: number }>(
          `SELECT count(*)::int n FROM signin_codes WHERE subject_kind = $1 AND subject_id = $2 AND channel <> 'qr' AND created_at > $3`,
          [p.kind, p.id, new Date(now.getTime() - CODE_WINDOW_MS)],
        );
        if ((rows[0]?.n ?? 0) >= CODES_PER_WINDOW) return null;
        const { rows: ins } = await c.query<{ id: string }>(
          `INSERT INTO signin_codes (subject_kind, subject_id, patient_id, channel, code_hash, created_at, expires_at, issued_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'self') RETURNING id`,
          [p.kind, p.id, p.patientId, channel, hashCode(code), now, new Date(now.getTime() + CODE_TTL_MS)],
        );
        return one(ins).id;
      });
      if (codeId === null) {
        await audit(this.pool, {
          actor: `${p.kind}:${p.id}`,
          action: 'portal.code_rate_limited',
          entity: 'patient',
          entityId: p.patientId,
          detail: { channel },
          at: now,
        });
        continue;
      }
      await this.notify.sendNow(
        {
          key: `signin-${codeId}`,
          patientId: p.patientId,
          recipient: p.recipient,
          channel,
          template: 'signin_code',
          params: { minutes: CODE_TTL_MS / 60_000 },
          urgent: true,
        },
        { code },
      );
      await audit(this.pool, {
        actor: `${p.kind}:${p.id}`,
        action: 'portal.code_sent',
        entity: 'patient',
        entityId: p.patientId,
        detail: { channel },
        at: now,
      });
    }
    if (people.length === 0)
      await audit(this.pool, {
        actor: 'anonymous',
        action: 'portal.code_unknown_address',
        entity: 'portal',
        entityId: channel,
        at: now,
      });
  }

  /** Exchanges a code for a session token; every wrong try counts against the live codes of the address. */
  async verifyCode(address: string, code: string): Promise<{ token: string; subject: PortalSubject }> {
    const now = this.clock.now();
    const people = await this.byAddress(address);
    // the wrong tries must be committed: the transaction returns null, the error comes after COMMIT
    const opened = await inTransaction(this.pool, async (c) => {
      for (const p of people) {
        const { rows } = await c.query<{ id: string; code_hash: string }>(
          `SELECT id, code_hash FROM signin_codes WHERE subject_kind = $1 AND subject_id = $2 AND channel <> 'qr'
             AND used_at IS NULL AND expires_at > $3 AND attempts < $4 ORDER BY id DESC FOR UPDATE`,
          [p.kind, p.id, now, CODE_MAX_ATTEMPTS],
        );
        for (const r of rows) {
          if (/^\d{6}$/.test(code) && codeMatches(code, r.code_hash)) {
            await c.query('UPDATE signin_codes SET used_at = $2 WHERE id = $1', [r.id, now]);
            return this.openSession(c, p, 'code', now);
          }
        }
        if (rows.length)
          await c.query('UPDATE signin_codes SET attempts = attempts + 1 WHERE id = ANY($1::bigint[])', [
            rows.map((r) => r.id),
          ]);
      }
      return null;
    });
    if (!opened) throw new PortalError('CODE_INVALID', 'this code is not right, or too old: ask for a new one');
    return opened;
  }

  /** The nurse prints a sign-in QR code for the patient: single use, 30 days. */
  async issueQr(patientId: string, actor: string): Promise<{ token: string; expiresAt: Date }> {
    const now = this.clock.now();
    const token = randomBytes(24).toString('base64url');
    const expiresAt = new Date(now.getTime() + QR_TTL_MS);
    const { rowCount } = await this.pool.query(
      `INSERT INTO signin_codes (subject_kind, subject_id, patient_id, channel, code_hash, created_at, expires_at, issued_by)
       SELECT 'patient', id, id, 'qr', $2, $3, $4, $5 FROM patients WHERE id = $1`,
      [patientId, hashSecret(token), now, expiresAt, actor],
    );
    if (!rowCount) throw new PortalError('NOT_FOUND', 'no such patient');
    await audit(this.pool, { actor, action: 'portal.qr_issued', entity: 'patient', entityId: patientId, at: now });
    return { token, expiresAt };
  }

  async redeemQr(token: string): Promise<{ token: string; subject: PortalSubject }> {
    const now = this.clock.now();
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ id: string; subject_kind: SubjectKind; subject_id: string; patient_id: string }>(
        `UPDATE signin_codes SET used_at = $2 WHERE code_hash = $1 AND channel = 'qr' AND used_at IS NULL AND expires_at > $2
         RETURNING id, subject_kind, subject_id, patient_id`,
        [hashSecret(token), now],
      );
      const r = rows[0];
      if (!r)
        throw new PortalError(
          'CODE_INVALID',
          'this QR code was already used or is too old: ask your nurse for a new one',
        );
      return this.openSession(c, { kind: r.subject_kind, id: r.subject_id, patientId: r.patient_id }, 'qr', now);
    });
  }

  private async openSession(
    c: pg.PoolClient,
    s: PortalSubject,
    how: string,
    now: Date,
  ): Promise<{ token: string; subject: PortalSubject }> {
    const token = randomBytes(32).toString('base64url');
    await c.query(
      `INSERT INTO portal_sessions (token_hash, subject_kind, subject_id, patient_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [hashSecret(token), s.kind, s.id, s.patientId, now, new Date(now.getTime() + SESSION_TTL_MS)],
    );
    await audit(c, {
      actor: `${s.kind}:${s.id}`,
      action: 'portal.signed_in',
      entity: 'patient',
      entityId: s.patientId,
      detail: { how },
      at: now,
    });
    return { token, subject: { kind: s.kind, id: s.id, patientId: s.patientId } };
  }

  /** The session's subject, if the session is live and (caregiver) the grant still stands. */
  async session(token: string): Promise<PortalSubject | null> {
    const { rows } = await this.pool.query<{ subject_kind: SubjectKind; subject_id: string; patient_id: string }>(
      `SELECT s.subject_kind, s.subject_id, s.patient_id FROM portal_sessions s
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
          AND (s.subject_kind = 'patient' OR EXISTS (SELECT 1 FROM caregivers c WHERE c.id = s.subject_id AND c.patient_id = s.patient_id AND c.revoked_at IS NULL))`,
      [hashSecret(token), this.clock.now()],
    );
    const r = rows[0];
    return r ? { kind: r.subject_kind, id: r.subject_id, patientId: r.patient_id } : null;
  }

  async signOut(token: string): Promise<void> {
    await this.pool.query('UPDATE portal_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL', [
      hashSecret(token),
      this.clock.now(),
    ]);
  }

  /**
   * Housekeeping: codes and sessions past their end are kept 30 days (audit of sign-in problems),
   * then deleted. Returns the number of rows removed.
   */
  async purgeExpired(): Promise<number> {
    const cutoff = new Date(this.clock.now().getTime() - 30 * 86_400_000);
    const a = await this.pool.query('DELETE FROM signin_codes WHERE expires_at < $1', [cutoff]);
    const b = await this.pool.query('DELETE FROM portal_sessions WHERE expires_at < $1 OR revoked_at < $1', [cutoff]);
    return (a.rowCount ?? 0) + (b.rowCount ?? 0);
  }

  async grantCaregiver(
    patientId: string,
    c: { displayName: string; email?: string | null; phone?: string | null },
    actor: string,
  ): Promise<string> {
    if (!c.email && !c.phone)
      throw new PortalError('INVALID_REQUEST', 'a caregiver needs an e-mail address or a phone number to sign in');
    const id = `cg-${randomBytes(6).toString('hex')}`;
    const now = this.clock.now();
    await this.pool.query(
      `INSERT INTO caregivers (id, patient_id, display_name, email, phone, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        patientId,
        c.displayName,
        c.email ? normaliseEmail(c.email) : null,
        c.phone ? normalisePhone(c.phone) : null,
        now,
        actor,
      ],
    );
    await audit(this.pool, {
      actor,
      action: 'caregiver.granted',
      entity: 'patient',
      entityId: patientId,
      detail: { caregiverId: id },
      at: now,
    });
    return id;
  }

  /** Ends the caregiver's access at once: grant revoked, sessions closed. */
  async revokeCaregiver(patientId: string, caregiverId: string, actor: string): Promise<void> {
    const now = this.clock.now();
    await inTransaction(this.pool, async (c) => {
      const { rowCount } = await c.query(
        'UPDATE caregivers SET revoked_at = $3, revoked_by = $4 WHERE id = $1 AND patient_id = $2 AND revoked_at IS NULL',
        [caregiverId, patientId, now, actor],
      );
      if (!rowCount) throw new PortalError('NOT_FOUND', 'no such caregiver with access');
      await c.query(
        `UPDATE portal_sessions SET revoked_at = $2 WHERE subject_kind = 'caregiver' AND subject_id = $1 AND revoked_at IS NULL`,
        [caregiverId, now],
      );
      await audit(c, {
        actor,
        action: 'caregiver.revoked',
        entity: 'patient',
        entityId: patientId,
        detail: { caregiverId },
        at: now,
      });
    });
  }

  async caregivers(
    patientId: string,
  ): Promise<{ id: string; displayName: string; grantedAt: string; revokedAt: string | null }[]> {
    const { rows } = await this.pool.query<{
      id: string;
      display_name: string;
      granted_at: Date;
      revoked_at: Date | null;
    }>('SELECT id, display_name, granted_at, revoked_at FROM caregivers WHERE patient_id = $1 ORDER BY granted_at', [
      patientId,
    ]);
    return rows.map((r) => ({
      id: r.id,
      displayName: r.display_name,
      grantedAt: r.granted_at.toISOString(),
      revokedAt: r.revoked_at?.toISOString() ?? null,
    }));
  }
}
