import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
import { loadQuestionnaires } from '../questionnaires/fhir';
import type { Rule } from '../rules/rule';
import { firstRow } from '../storage/postgres/rows';
import { BUILTIN_ROLES } from './builtin-roles';
import {
  ProgramError,
  roleGrants,
  validateDefinition,
  type ProgramDefinition,
  type ValidationContext,
} from './definition';

/** The channel every hub LISTENs on: a program version was created or a program retired (payload: its id). */
export const PROGRAM_CHANNEL = 'vigil_programs';

export interface ProgramVersion {
  programId: string;
  version: number;
  definition: ProgramDefinition;
  createdBy: string;
  createdAt: string;
  reason: string;
}

export interface ProgramSummary {
  id: string;
  name: string;
  currentVersion: number;
  retiredAt: string | null;
  patients: number;
}

interface VersionRow {
  program_id: string;
  version: number;
  definition: ProgramDefinition;
  created_by: string;
  created_at: Date;
  reason: string;
}

const versionOf = (r: VersionRow): ProgramVersion => ({
  programId: r.program_id,
  version: r.version,
  definition: r.definition,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  reason: r.reason,
});

/** JSON with sorted keys: PostgreSQL's jsonb does not keep the key order of the document it was given. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** What changed between two definitions, by path (the audit records paths, never values of patients). */
export function changedPaths(a: ProgramDefinition, b: ProgramDefinition): string[] {
  const out: string[] = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ProgramDefinition>) {
    if (key === 'rules') {
      for (const id of new Set([...Object.keys(a.rules), ...Object.keys(b.rules)]))
        if (canonical(a.rules[id]) !== canonical(b.rules[id])) out.push(`rules.${id}`);
    } else if (canonical(a[key]) !== canonical(b[key])) out.push(key);
  }
  return out;
}

export function defaultValidationContext(rules?: readonly Rule[]): ValidationContext {
  return {
    ...(rules ? { rules } : {}),
    questionnaires: new Set(loadQuestionnaires().keys()),
    roles: BUILTIN_ROLES,
  };
}

/**
 * Program definitions in PostgreSQL (migration 250): create, new version, retire, read. Each write
 * is one transaction with its audit row and a NOTIFY on PROGRAM_CHANNEL, so that every hub's
 * ProgramCatalog drops its cache when the change commits.
 */
export class ProgramStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly validation: ValidationContext = defaultValidationContext(),
    /** told after each committed change (the local catalog's cache, before the NOTIFY comes back) */
    private readonly onChange: (programId: string) => void = () => undefined,
  ) {}

  validate(input: unknown): ProgramDefinition {
    return validateDefinition(input, this.validation);
  }

  async create(input: unknown, actor: string, reason: string, now: Date): Promise<ProgramVersion> {
    const def = this.validate(input);
    const out = await inTransaction(this.pool, async (c) => {
      const ins = await c.query(
        `INSERT INTO programs (id, name, description, current_version, created_at) VALUES ($1, $2, $3, 1, $4)
         ON CONFLICT (id) DO NOTHING`,
        [def.id, def.name, def.description, now],
      );
      if (!ins.rowCount) throw new ProgramError('PROGRAM_EXISTS', `a program ${def.id} exists already`);
      const v = await this.insertVersion(c, def, 1, actor, reason, now);
      await audit(c, {
        actor,
        action: 'program.created',
        entity: 'program',
        entityId: def.id,
        detail: { version: 1 },
        at: now,
      });
      return v;
    });
    this.onChange(def.id);
    return out;
  }

  /**
   * A new version of the program (versions are immutable). `basedOn`: the version the editor read;
   * when another change came in between, PROGRAM_VERSION_CONFLICT instead of silently overwriting it.
   */
  async update(
    id: string,
    input: unknown,
    actor: string,
    reason: string,
    now: Date,
    basedOn?: number,
  ): Promise<ProgramVersion> {
    const def = this.validate(input);
    if (def.id !== id) throw new ProgramError('PROGRAM_INVALID', `the definition's id ${def.id} is not ${id}`);
    const out = await inTransaction(this.pool, async (c) => {
      const cur = await c.query<{
        current_version: number | null;
        retired_at: Date | null;
        definition: ProgramDefinition;
      }>(
        `SELECT p.current_version, p.retired_at, v.definition FROM programs p
         LEFT JOIN program_versions v ON v.program_id = p.id AND v.version = p.current_version
         WHERE p.id = $1 FOR UPDATE OF p`,
        [id],
      );
      const row = cur.rows[0];
      if (!row?.current_version) throw new ProgramError('PROGRAM_NOT_FOUND', `no program ${id}`);
      if (row.retired_at) throw new ProgramError('PROGRAM_RETIRED', `program ${id} is retired`);
      if (basedOn !== undefined && basedOn !== row.current_version)
        throw new ProgramError(
          'PROGRAM_VERSION_CONFLICT',
          `version ${String(row.current_version)} is current, not ${String(basedOn)}: read it again`,
        );
      const version = row.current_version + 1;
      await c.query('UPDATE programs SET name = $2, description = $3, current_version = $4 WHERE id = $1', [
        id,
        def.name,
        def.description,
        version,
      ]);
      const v = await this.insertVersion(c, def, version, actor, reason, now);
      await audit(c, {
        actor,
        action: 'program.versioned',
        entity: 'program',
        entityId: id,
        detail: { version, previous: row.current_version, changed: changedPaths(row.definition, def) },
        at: now,
      });
      return v;
    });
    this.onChange(id);
    return out;
  }

  /** Retires a program: no new enrollment; its patients keep being followed under their definition. */
  async retire(id: string, actor: string, reason: string, now: Date): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ retired_at: Date | null }>(
        'SELECT retired_at FROM programs WHERE id = $1 AND current_version IS NOT NULL FOR UPDATE',
        [id],
      );
      const row = rows[0];
      if (!row) throw new ProgramError('PROGRAM_NOT_FOUND', `no program ${id}`);
      if (row.retired_at) throw new ProgramError('PROGRAM_RETIRED', `program ${id} is retired already`);
      await c.query('UPDATE programs SET retired_at = $2, retired_by = $3 WHERE id = $1', [id, now, actor]);
      await audit(c, { actor, action: 'program.retired', entity: 'program', entityId: id, detail: {}, at: now });
      await c.query('SELECT pg_notify($1, $2)', [PROGRAM_CHANNEL, id]);
    });
    this.onChange(id);
  }

  private async insertVersion(
    c: pg.PoolClient,
    def: ProgramDefinition,
    version: number,
    actor: string,
    reason: string,
    now: Date,
  ): Promise<ProgramVersion> {
    const { rows } = await c.query<VersionRow>(
      `INSERT INTO program_versions (program_id, version, definition, created_by, created_at, reason)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [def.id, version, JSON.stringify(def), actor, now, reason],
    );
    // the grants follow the current version (what a role may see in this program)
    await c.query('DELETE FROM program_role_grants WHERE program_id = $1', [def.id]);
    const grants = roleGrants(def);
    await c.query(
      `INSERT INTO program_role_grants (program_id, role, capability)
       SELECT $1, g.role, g.capability FROM unnest($2::text[], $3::text[]) AS g(role, capability) ON CONFLICT DO NOTHING`,
      [def.id, grants.map((g) => g.role), grants.map((g) => g.capability)],
    );
    await c.query('SELECT pg_notify($1, $2)', [PROGRAM_CHANNEL, def.id]);
    return versionOf(firstRow({ rows }, 'INSERT INTO program_versions'));
  }

  async list(): Promise<ProgramSummary[]> {
    const { rows } = await this.pool.query<{
      id: string;
      name: string;
      current_version: number;
      retired_at: Date | null;
      patients: string;
    }>(
      `SELECT p.id, p.name, p.current_version, p.retired_at, (SELECT count(*) FROM patients pt WHERE pt.program_id = p.id) AS patients
       FROM programs p WHERE p.current_version IS NOT NULL ORDER BY p.id`,
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      currentVersion: r.current_version,
      retiredAt: r.retired_at?.toISOString() ?? null,
      patients: Number(r.patients),
    }));
  }

  /** One version (default: the current one). */
  async get(id: string, version?: number): Promise<ProgramVersion & { retiredAt: string | null; current: number }> {
    const { rows } = await this.pool.query<VersionRow & { retired_at: Date | null; current_version: number }>(
      `SELECT v.*, p.retired_at, p.current_version FROM programs p JOIN program_versions v ON v.program_id = p.id
       WHERE p.id = $1 AND v.version = coalesce($2, p.current_version)`,
      [id, version ?? null],
    );
    const r = rows[0];
    if (!r)
      throw new ProgramError(
        'PROGRAM_NOT_FOUND',
        version ? `no version ${String(version)} of ${id}` : `no program ${id}`,
      );
    return { ...versionOf(r), retiredAt: r.retired_at?.toISOString() ?? null, current: r.current_version };
  }

  /** Every version, newest first (the history of the protocol). */
  async versions(id: string): Promise<Omit<ProgramVersion, 'definition'>[]> {
    const { rows } = await this.pool.query<VersionRow>(
      'SELECT * FROM program_versions WHERE program_id = $1 ORDER BY version DESC',
      [id],
    );
    if (!rows.length) throw new ProgramError('PROGRAM_NOT_FOUND', `no program ${id}`);
    return rows.map((r) => ({
      programId: r.program_id,
      version: r.version,
      createdBy: r.created_by,
      createdAt: r.created_at.toISOString(),
      reason: r.reason,
    }));
  }
}
