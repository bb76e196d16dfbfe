import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Role } from '../../api/authz';
import type { Clock } from '../../rules/clock';
import type { Principal, PrincipalKind } from './principal';

export interface SessionPolicy {
  /** a session unused this long ends (shared hospital workstations) */
  idleTimeoutMs: number;
  /** a session ends this long after sign-in whatever the activity */
  absoluteTimeoutMs: number;
}

export interface Session {
  principal: Principal;
  stage: 'pending_totp' | 'active';
  method: 'password' | 'oidc';
  expiresAt: Date;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Browser sessions kept in PostgreSQL so every hub instance knows them and sign-out is immediate.
 * The cookie carries 32 random bytes; the table only their SHA-256, so a database dump opens no
 * session. Idle and absolute timeouts are checked on each use (OWASP Session Management Cheat Sheet).
 */
export class SessionStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: SessionPolicy,
    private readonly clock: Clock,
  ) {}

  async create(
    p: { kind: PrincipalKind; id: string },
    stage: Session['stage'],
    method: Session['method'],
  ): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    await this.pool.query(
      `INSERT INTO web_sessions (id_hash, principal_kind, principal_id, stage, method, created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`,
      [hash(token), p.kind, p.id, stage, method, now, new Date(now.getTime() + this.policy.absoluteTimeoutMs)],
    );
    return token;
  }

  /** The live session for this cookie value, its idle clock restarted; undefined when ended or expired. */
  async use(token: string, o: { touch: boolean } = { touch: true }): Promise<Session | undefined> {
    const now = this.clock.now();
    const idleSince = new Date(now.getTime() - this.policy.idleTimeoutMs);
    // background refreshes (live worklist) read the session without restarting its idle clock
    const { rows } = await this.pool.query<{
      principal_kind: PrincipalKind;
      principal_id: string;
      stage: Session['stage'];
      method: Session['method'];
      expires_at: Date;
    }>(
      `UPDATE web_sessions SET last_seen_at = CASE WHEN $4 THEN $2 ELSE last_seen_at END
       WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
       RETURNING principal_kind, principal_id, stage, method, expires_at`,
      [hash(token), now, idleSince, o.touch],
    );
    const s = rows[0];
    if (!s) return undefined;
    const principal = await this.principal(s.principal_kind, s.principal_id);
    if (!principal) return undefined;
    return { principal, stage: s.stage, method: s.method, expiresAt: s.expires_at };
  }

  async activate(token: string): Promise<void> {
    await this.pool.query(`UPDATE web_sessions SET stage = 'active' WHERE id_hash = $1 AND ended_at IS NULL`, [
      hash(token),
    ]);
  }

  async end(token: string): Promise<void> {
    await this.pool.query('UPDATE web_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL', [
      hash(token),
      this.clock.now(),
    ]);
  }

  /** Ends every session of a principal (password changed, account disabled). */
  async endAll(p: { kind: PrincipalKind; id: string }): Promise<void> {
    await this.pool.query(
      'UPDATE web_sessions SET ended_at = $3 WHERE principal_kind = $1 AND principal_id = $2 AND ended_at IS NULL',
      [p.kind, p.id, this.clock.now()],
    );
  }

  private async principal(kind: PrincipalKind, id: string): Promise<Principal | undefined> {
    if (kind === 'professional') {
      const { rows } = await this.pool.query<{ id: string; role: Role; display_name: string }>(
        // a revoked professional (migration 101) loses her open sessions as well as her token
        'SELECT id, role, display_name FROM professionals WHERE id = $1 AND disabled_at IS NULL AND revoked_at IS NULL',
        [id],
      );
      const r = rows[0];
      return r ? { kind: 'professional', id: r.id, role: r.role, displayName: r.display_name } : undefined;
    }
    const { rows } = await this.pool.query<{ id: string; display_name: string }>(
      'SELECT id, display_name FROM patients WHERE id = $1',
      [id],
    );
    const r = rows[0];
    return r ? { kind: 'patient', id: r.id, displayName: r.display_name } : undefined;
  }
}
