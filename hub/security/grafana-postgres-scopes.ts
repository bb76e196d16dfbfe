import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { inClientTransaction, withClient } from '../storage/postgres/database';
import {
  can,
  isBuiltinRole,
  isClinical,
  PHARMACIST_METRICS,
  PHARMACIST_RULES,
  patientScopeSql,
  ROLES,
  type Role,
} from '../api/authz';

/**
 * Grafana never shows what the API would refuse: the PostgreSQL side (docs/security.md "Grafana",
 * migration 210). One PostgreSQL login role per professional, a member of vigil_grafana, whose
 * rows are decided by row-level security on the tables under the grafana.* views:
 * - the policies call grafana_access.scope_patients(cap), whose body this module writes from the
 *   API's own rules (authz.ts: can, patientScopeSql with the capability's consent scope), so the
 *   API and Grafana cannot drift apart; it is evaluated live at each query: a withdrawn consent,
 *   a professional taken off a team, a revoked or expired account change what Grafana shows at once;
 * - board capabilities: patients and readings-derived figures = trends.read, episodes =
 *   alerts.read (pharmacist: treatment rules and metrics only), boxes = devices.read;
 * - per professional, not per care team: consent is given to one professional (a patient may
 *   withdraw it from her GP and keep her oncologist), and roles in one team see different things
 *   (pharmacist, GP), so a team-wide role would show someone more than the API does;
 * - fail closed: admins, coaches (no board capability), revoked or expired accounts get no role;
 *   roles of professionals gone from that list are dropped with their open sessions.
 * Passwords derive from grafana.scopeKey and a per-role generation (bumped to rotate), so the hub
 * provisions Grafana's data sources without storing them; PostgreSQL receives a SCRAM verifier,
 * never the password.
 */
export interface GrafanaPostgresScope {
  professionalId: string;
  role: Role;
  /** the PostgreSQL login */
  roleName: string;
  password: string;
  generation: number;
}

/** Capabilities the boards draw from PostgreSQL (migration 210's policies). */
export const GRAFANA_PG_CAPS = ['trends.read', 'alerts.read', 'devices.read'] as const;
/** The group every Grafana login belongs to (migration 030). */
export const GRAFANA_GROUP = 'vigil_grafana';
/** What "an account Grafana may serve" means, on both paths (InfluxDB projections too). */
export const ACTIVE_PROFESSIONAL_SQL = (t: string): string =>
  `(${t}.revoked_at IS NULL AND ${t}.token_hash IS NOT NULL AND (${t}.token_expires_at IS NULL OR ${t}.token_expires_at > now()))`;

const hex = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);
const safe = (id: string) =>
  id
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 36);
/** Roles are cluster-wide: the database's tag keeps two databases' roles apart. */
export const rolePrefix = (database: string): string => `vgf_${hex(database, 8)}_`;
export const scopeRoleName = (database: string, professionalId: string): string =>
  `${rolePrefix(database)}${safe(professionalId)}_${hex(professionalId, 6)}`;
export const scopeRolePassword = (key: string, database: string, professionalId: string, generation: number) =>
  createHmac('sha256', key).update(`grafana-pg:${database}:${professionalId}:${generation}`).digest('base64url');

/** PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802 section 3, RFC 7677), as CREATE ROLE ... PASSWORD accepts it. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Does this role get a Grafana login at all? Only built-in roles: the row filters are generated
 * from the built-in matrix, so a program-defined role (docs/programs.md) has none (fail closed).
 */
export const hasGrafanaScope = (role: string): boolean =>
  isBuiltinRole(role) && role !== 'admin' && GRAFANA_PG_CAPS.some((cap) => can({ id: '', role }, cap));

/**
 * The scope functions' bodies, generated from the API's authorization rules. PL/pgSQL: only the
 * branch of the login's role and the capability asked is planned, once per session (a single SQL
 * statement with every branch was re-planned at each call, hundreds of ms).
 */
export function scopeFunctionsSql(): string {
  // the login's professional, or the function's empty answer (fail closed)
  const me = (empty: string) => `SELECT pr.id, pr.role INTO me_id, me_role
      FROM grafana_access.scope_roles s JOIN professionals pr ON pr.id = s.professional_id
      WHERE s.role_name = session_user AND ${ACTIVE_PROFESSIONAL_SQL('pr')};
    IF me_id IS NULL THEN RETURN${empty}; END IF;`;
  const branches: string[] = [];
  for (const role of ROLES) {
    if (!hasGrafanaScope(role)) continue;
    for (const cap of GRAFANA_PG_CAPS) {
      if (!can({ id: '', role }, cap)) continue;
      const scope = patientScopeSql({ id: '', role }, 'p.id', 'me_id', isClinical(cap), cap);
      branches.push(`IF me_role = ${lit(role)} AND cap = ${lit(cap)} THEN
      RETURN QUERY SELECT p.id FROM patients p WHERE ${scope};
      RETURN;
    END IF;`);
    }
  }
  const arr = (xs: Iterable<string>) => `ARRAY[${[...xs].sort().map(lit).join(', ')}]::text[]`;
  return `
CREATE OR REPLACE FUNCTION grafana_access.scope_patients(cap text) RETURNS SETOF text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  me_id text;
  me_role text;
BEGIN
    ${me('')}
    ${branches.join('\n    ')}
    RETURN;
END
$fn$;
CREATE OR REPLACE FUNCTION grafana_access.scope_only(cap text) RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  me_id text;
  me_role text;
BEGIN
    ${me(" '{}'::text[]")}
    IF me_role = 'pharmacist' AND cap = 'trends.read' THEN RETURN ${arr(PHARMACIST_METRICS)}; END IF;
    IF me_role = 'pharmacist' AND cap = 'alerts.read' THEN RETURN ${arr(PHARMACIST_RULES)}; END IF;
    RETURN NULL;
END
$fn$;`;
}

const SYNC_LOCK = 7_341_903; // pg_advisory_xact_lock key: one hub rewrites the functions at a time
const ROLES_LOCK = 7_341_904; // pg_advisory_lock key: one hub (multi-hub mode) manages the logins at a time

export class GrafanaPostgresScopes {
  constructor(
    /** the hub's pool (owner of the schema) */
    private readonly pool: pg.Pool,
    private readonly key: string,
    /** a connection allowed to CREATE ROLE (CREATEROLE, ADMIN on vigil_grafana); default: the hub's */
    private readonly roleAdmin: pg.Pool = pool,
  ) {
    if (key.length < 32) throw new Error('GRAFANA_SCOPE_KEY_TOO_SHORT: at least 32 characters');
  }

  private async database(): Promise<string> {
    const { rows } = await this.pool.query<{ db: string }>('SELECT current_database() AS db');
    const db = rows[0]?.db;
    if (!db) throw new Error('current_database() returned no row');
    return db;
  }

  /**
   * Rewrites the scope functions, grants the views that run with the reader's rights, creates
   * or updates one login per professional with a board capability and drops the others.
   * `rotate`: professionals whose password changes now (a new generation).
   */
  async sync(opts: { rotate?: readonly string[] | 'all' } = {}): Promise<GrafanaPostgresScope[]> {
    return withClient(this.pool, async (lock, markBroken) => {
      await lock.query('SELECT pg_advisory_lock($1)', [ROLES_LOCK]);
      try {
        return await this.syncLocked(opts);
      } finally {
        // a session lock is released when its session ends: a client that cannot unlock is destroyed
        await lock.query('SELECT pg_advisory_unlock($1)', [ROLES_LOCK]).catch(markBroken);
      }
    });
  }

  private async syncLocked(opts: { rotate?: readonly string[] | 'all' }): Promise<GrafanaPostgresScope[]> {
    const database = await this.database();
    await withClient(this.pool, (client, markBroken) =>
      inClientTransaction(client, markBroken, async () => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [SYNC_LOCK]);
        await client.query(scopeFunctionsSql());
        // a grafana.* view is granted only if it runs with the reader's rights (else it would read
        // every row with its owner's): checked at each sync, so a view added later is covered.
        // (grafana.cohort_monthly is such a view over a function scoped to the login's teams, 263)
        const views = await client.query<{ name: string; invoker: boolean }>(
          `SELECT c.relname AS name, coalesce('security_invoker=true' = ANY (c.reloptions), false) AS invoker
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'grafana' AND c.relkind = 'v'`,
        );
        for (const v of views.rows) {
          const grant = v.invoker
            ? `GRANT SELECT ON grafana.${ident(v.name)} TO ${GRAFANA_GROUP}`
            : `REVOKE ALL ON grafana.${ident(v.name)} FROM ${GRAFANA_GROUP}`;
          await client.query(grant);
        }
      }),
    );

    const { rows } = await this.pool.query<{
      id: string;
      role: Role;
      generation: number | null;
      password_check: string | null;
    }>(
      `SELECT pr.id, pr.role, s.generation, s.password_check FROM professionals pr
       LEFT JOIN grafana_access.scope_roles s ON s.professional_id = pr.id
       WHERE ${ACTIVE_PROFESSIONAL_SQL('pr')} ORDER BY pr.id`,
    );
    const existing = new Set(
      (
        await this.roleAdmin.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, [
          rolePrefix(database),
        ])
      ).rows.map((r) => r.rolname),
    );
    const out: GrafanaPostgresScope[] = [];
    for (const r of rows) {
      if (!hasGrafanaScope(r.role)) continue;
      const roleName = scopeRoleName(database, r.id);
      const rotate = opts.rotate === 'all' || (opts.rotate?.includes(r.id) ?? false);
      const generation = (r.generation ?? 0) + (rotate || r.generation === null ? 1 : 0);
      const password = scopeRolePassword(this.key, database, r.id, generation);
      const check = createHash('sha256').update(password).digest('hex');
      // an unchanged login is left alone (no catalogue write every sync)
      if (!existing.has(roleName) || check !== r.password_check) {
        const verifier = lit(scramVerifier(password));
        if (existing.has(roleName)) await this.roleAdmin.query(`ALTER ROLE ${ident(roleName)} PASSWORD ${verifier}`);
        else
          await this.roleAdmin.query(
            `CREATE ROLE ${ident(roleName)} LOGIN INHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT 10 PASSWORD ${verifier}`,
          );
        // membership gives the view grants; read-only transactions by default
        await this.roleAdmin.query(`GRANT ${GRAFANA_GROUP} TO ${ident(roleName)}`);
        await this.roleAdmin.query(`ALTER ROLE ${ident(roleName)} SET default_transaction_read_only = on`);
      }
      await this.pool.query(
        `INSERT INTO grafana_access.scope_roles (role_name, professional_id, generation, password_check) VALUES ($1, $2, $3, $4)
         ON CONFLICT (professional_id) DO UPDATE SET role_name = excluded.role_name, generation = excluded.generation,
           password_check = excluded.password_check, synced_at = now()`,
        [roleName, r.id, generation, check],
      );
      existing.delete(roleName);
      out.push({ professionalId: r.id, role: r.role, roleName, password, generation });
    }
    // fail closed: every other login of this database goes, with its open sessions
    await this.pool.query(`DELETE FROM grafana_access.scope_roles WHERE NOT (role_name = ANY ($1::text[]))`, [
      out.map((s) => s.roleName),
    ]);
    for (const gone of existing) await this.dropRole(gone);
    return out;
  }

  private async dropRole(roleName: string): Promise<void> {
    await this.roleAdmin.query(`ALTER ROLE ${ident(roleName)} NOLOGIN`);
    // open sessions end (best effort: a role manager may lack the right to signal them; they see
    // nothing anyway once the mapping row is gone, since the scope functions find no professional)
    await this.roleAdmin
      .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [roleName])
      .catch(() => undefined);
    await this.roleAdmin.query(`DROP ROLE IF EXISTS ${ident(roleName)}`).catch(async (e: unknown) => {
      // 2BP01: privileges granted to the role in this database; revoke them, then drop
      if ((e as { code?: string }).code !== '2BP01') throw e;
      await this.roleAdmin.query(`DROP OWNED BY ${ident(roleName)}`);
      await this.roleAdmin.query(`DROP ROLE IF EXISTS ${ident(roleName)}`);
    });
  }

  /** Drops every Grafana login of this database (decommissioning, tests). */
  async dropAll(): Promise<void> {
    const database = await this.database();
    const { rows } = await this.roleAdmin.query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`,
      [rolePrefix(database)],
    );
    await this.pool.query('DELETE FROM grafana_access.scope_roles');
    for (const r of rows) await this.dropRole(r.rolname);
  }
}
