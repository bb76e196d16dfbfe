import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
import { ProgramCatalog } from '../programs/catalog';
import { ProgramError } from '../programs/definition';
import { defaultValidationContext, ProgramStore } from '../programs/store';
import { DEFAULT_RULES, ruleById } from './catalog';
import { appliesTo, type PatientFacts, type Program, type Rule } from './rule';

export interface RuleSetting {
  enabled?: boolean | null;
  params: Record<string, unknown>;
}

export class RuleSettingError extends Error {
  constructor(
    readonly code: 'UNKNOWN_RULE' | 'INVALID_PARAMS',
    message: string,
  ) {
    super(message);
  }
}

/** Effective parameters: rule defaults < program setting < patient override, validated by the rule's schema. */
export function effective(
  rule: Rule,
  program?: RuleSetting,
  override?: RuleSetting,
): { enabled: boolean; params: Record<string, unknown> } {
  const merged = { ...(program?.params ?? {}), ...(override?.params ?? {}) };
  const params = rule.params.parse(merged);
  const enabled = override?.enabled ?? program?.enabled ?? true;
  return { enabled, params };
}

function validate(rule: Rule, params: Record<string, unknown>): void {
  const res = rule.params.safeParse(params);
  if (!res.success)
    throw new RuleSettingError(
      'INVALID_PARAMS',
      res.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; '),
    );
}

/**
 * The rule settings of the programs' current definitions, keyed `program|rule` (migration 250). A
 * program with a definition runs the rules it lists and only those; a program without one (a
 * database not yet migrated to programs as data) falls back on the catalog's own program list.
 */
export class ProgramRuleSettings extends Map<string, RuleSetting> {
  readonly defined = new Set<string>();

  /** Whether the rule runs for patients of this program at all (before their own overrides). */
  includes(rule: Rule, programId: string): boolean {
    return this.defined.has(programId) ? this.has(`${programId}|${rule.id}`) : appliesTo(rule, programId as Program);
  }
}

export interface PatientRuleState {
  facts: PatientFacts;
  overrides: Map<string, RuleSetting>;
}

/** A rule's effective setting for one patient: program setting (keyed as programSettings() keys it), then the patient's override. */
export function effectiveFor(
  rule: Rule,
  patient: PatientRuleState,
  program: ReadonlyMap<string, RuleSetting>,
): { enabled: boolean; params: Record<string, unknown> } {
  const eff = effective(rule, program.get(`${patient.facts.programId}|${rule.id}`), patient.overrides.get(rule.id));
  // a rule outside the patient's program stays off whatever the override (the override tunes the program's rules)
  if (program instanceof ProgramRuleSettings && !program.includes(rule, patient.facts.programId))
    return { ...eff, enabled: false };
  return eff;
}

/** A patient's facts and rule overrides as patientStatesQuery gives them. */
export interface PatientStateJson {
  id: string;
  programId: Program;
  chronicLungDisease: boolean;
  /** timestamptz as JSON text */
  createdAt: string;
  overrides: { ruleId: string; enabled: boolean | null; params: Record<string, unknown> }[];
}

/**
 * A scalar subquery: the patients' facts with their overrides, one JSON array (PatientStateJson[]):
 * these patients (`$1`) or all; `processable` leaves out those who withdrew consent (migration
 * 100). One round trip instead of one per table, and one a caller can put beside its own reads in a
 * single statement (the rule engine's pass state: every round trip of a live group adds to the
 * alert's latency under load, bench/README.md "Session 15"). A few fixed texts, so a named
 * statement each.
 */
export function patientStatesQuery(ids: readonly string[] | 'all', opts: { processable?: boolean } = {}): string {
  const where = [
    ids === 'all' ? '' : 'p.id = ANY($1::text[])',
    opts.processable ? 'NOT vigil_processing_stopped(p.id)' : '',
  ]
    .filter(Boolean)
    .join(' AND ');
  return `SELECT coalesce(json_agg(json_build_object('id', p.id, 'programId', p.program_id,
            'chronicLungDisease', p.chronic_lung_disease, 'createdAt', p.created_at,
            'overrides', (SELECT coalesce(json_agg(json_build_object('ruleId', o.rule_id, 'enabled', o.enabled, 'params', o.params)), '[]')
                            FROM rule_overrides o WHERE o.patient_id = p.id)) ORDER BY p.id), '[]')
       FROM patients p ${where ? `WHERE ${where}` : ''}`;
}

export function patientStatesFrom(rows: readonly PatientStateJson[]): Map<string, PatientRuleState> {
  return new Map(
    rows.map((r) => [
      r.id,
      {
        facts: {
          id: r.id,
          programId: r.programId,
          chronicLungDisease: r.chronicLungDisease,
          enrolledAt: new Date(r.createdAt),
        },
        overrides: new Map(r.overrides.map((o) => [o.ruleId, { enabled: o.enabled, params: o.params }])),
      },
    ]),
  );
}

/** Program settings and patient overrides of the rules (issue 5 item 3: who, when, old, new, reason). */
export class RuleSettings {
  /** the programs' current definitions (cached while it LISTENs; hub/programs/catalog.ts) */
  readonly programs: ProgramCatalog;
  /** program definitions: a program-wide setting is a new version of the program */
  readonly programStore: ProgramStore;

  constructor(
    private readonly pool: pg.Pool,
    readonly rules: readonly Rule[] = DEFAULT_RULES,
    programs?: ProgramCatalog,
  ) {
    this.programs = programs ?? new ProgramCatalog(pool);
    this.programStore = new ProgramStore(pool, defaultValidationContext(rules), () => {
      this.programs.invalidate();
    });
  }

  /** Which rules each program runs, with the program's parameters (its current definition). */
  async programSettings(): Promise<ProgramRuleSettings> {
    const out = new ProgramRuleSettings();
    for (const [id, p] of await this.programs.current()) {
      out.defined.add(id);
      for (const [ruleId, s] of Object.entries(p.definition.rules))
        out.set(`${id}|${ruleId}`, { enabled: s.enabled, params: s.params });
    }
    return out;
  }

  /**
   * Facts and overrides of these patients, in one statement. `processable`: leave out the patients
   * who withdrew consent (migration 100): rules never run for them.
   */
  async patients(
    ids: readonly string[] | 'all',
    opts: { processable?: boolean } = {},
  ): Promise<Map<string, PatientRuleState>> {
    const { rows } = await this.pool.query<{ patients: PatientStateJson[] }>(
      named(`SELECT (${patientStatesQuery(ids, opts)}) AS patients`),
      ids === 'all' ? [] : [ids],
    );
    return patientStatesFrom(rows[0]?.patients ?? []);
  }

  /** The rules of a patient's program with their effective parameters and where each value comes from. */
  async describe(patientId: string): Promise<
    {
      ruleId: string;
      title: string;
      kind: string;
      source: string;
      enabled: boolean;
      params: Record<string, unknown>;
      override: RuleSetting | null;
    }[]
  > {
    const [state, program] = await Promise.all([this.patients([patientId]), this.programSettings()]);
    const p = state.get(patientId);
    if (!p) return [];
    return this.rules
      .filter((r) => program.includes(r, p.facts.programId))
      .map((r) => {
        const o = p.overrides.get(r.id);
        const eff = effectiveFor(r, p, program);
        return {
          ruleId: r.id,
          title: r.title,
          kind: r.kind,
          source: r.source,
          enabled: eff.enabled,
          params: eff.params,
          override: o ?? null,
        };
      });
  }

  /** Sets (or, with params {} and enabled null, clears) a patient's override of a rule, recording old and new. */
  async setOverride(
    o: {
      patientId: string;
      ruleId: string;
      enabled?: boolean | null;
      params?: Record<string, unknown>;
      actor: string;
      reason: string;
    },
    now: Date,
  ): Promise<RuleSetting | null> {
    const rule = ruleById(o.ruleId, this.rules);
    if (!rule) throw new RuleSettingError('UNKNOWN_RULE', `no rule ${o.ruleId}`);
    const params = o.params ?? {};
    validate(rule, params);
    return inTransaction(this.pool, async (c) => {
      const old = await c.query<{ enabled: boolean | null; params: Record<string, unknown> }>(
        'SELECT enabled, params FROM rule_overrides WHERE patient_id = $1 AND rule_id = $2 FOR UPDATE',
        [o.patientId, o.ruleId],
      );
      const clear = Object.keys(params).length === 0 && (o.enabled === undefined || o.enabled === null);
      const next: RuleSetting | null = clear ? null : { enabled: o.enabled ?? null, params };
      if (next) {
        await c.query(
          `INSERT INTO rule_overrides (patient_id, rule_id, enabled, params, set_by, set_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (patient_id, rule_id) DO UPDATE SET enabled = EXCLUDED.enabled, params = EXCLUDED.params, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at, reason = EXCLUDED.reason`,
          [o.patientId, o.ruleId, next.enabled, JSON.stringify(params), o.actor, now, o.reason],
        );
      } else {
        await c.query('DELETE FROM rule_overrides WHERE patient_id = $1 AND rule_id = $2', [o.patientId, o.ruleId]);
      }
      const oldValue = old.rows[0] ?? null;
      await c.query(
        `INSERT INTO rule_setting_changes (scope, patient_id, rule_id, actor, at, old_value, new_value, reason) VALUES ('patient', $1, $2, $3, $4, $5, $6, $7)`,
        [
          o.patientId,
          o.ruleId,
          o.actor,
          now,
          oldValue && JSON.stringify(oldValue),
          next && JSON.stringify(next),
          o.reason,
        ],
      );
      await audit(c, {
        actor: o.actor,
        action: next ? 'rule.override_set' : 'rule.override_cleared',
        entity: 'patient',
        entityId: o.patientId,
        detail: { ruleId: o.ruleId },
        at: now,
      });
      return next;
    });
  }

  /**
   * A program-wide setting of one rule: a new version of the program's definition with that rule's
   * setting replaced (the old version stays in the history, audited as program.versioned).
   */
  async setProgramSetting(
    s: {
      programId: Program;
      ruleId: string;
      enabled?: boolean;
      params?: Record<string, unknown>;
      actor: string;
      reason: string;
    },
    now: Date,
  ): Promise<void> {
    const rule = ruleById(s.ruleId, this.rules);
    if (!rule) throw new RuleSettingError('UNKNOWN_RULE', `no rule ${s.ruleId}`);
    const params = s.params ?? {};
    validate(rule, params);
    const cur = await this.programStore.get(s.programId);
    const definition = {
      ...cur.definition,
      rules: { ...cur.definition.rules, [s.ruleId]: { enabled: s.enabled ?? true, params } },
    };
    try {
      await this.programStore.update(s.programId, definition, s.actor, s.reason, now, cur.version);
    } catch (e) {
      if (e instanceof ProgramError && (e.code === 'THRESHOLD_OUT_OF_RANGE' || e.code === 'PROGRAM_INVALID'))
        throw new RuleSettingError('INVALID_PARAMS', [e.message, ...e.issues].join('; '));
      throw e;
    }
    await inTransaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO rule_setting_changes (scope, program_id, rule_id, actor, at, old_value, new_value, reason) VALUES ('program', $1, $2, $3, $4, $5, $6, $7)`,
        [
          s.programId,
          s.ruleId,
          s.actor,
          now,
          JSON.stringify(cur.definition.rules[s.ruleId] ?? null),
          JSON.stringify(definition.rules[s.ruleId]),
          s.reason,
        ],
      );
      await audit(c, {
        actor: s.actor,
        action: 'rule.program_setting_set',
        entity: 'program',
        entityId: s.programId,
        detail: { ruleId: s.ruleId },
        at: now,
      });
    });
  }

  async history(
    patientId: string,
  ): Promise<{ ruleId: string; actor: string; at: string; oldValue: unknown; newValue: unknown; reason: string }[]> {
    const { rows } = await this.pool.query<{
      rule_id: string;
      actor: string;
      at: Date;
      old_value: unknown;
      new_value: unknown;
      reason: string;
    }>(
      `SELECT rule_id, actor, at, old_value, new_value, reason FROM rule_setting_changes WHERE patient_id = $1 ORDER BY at, id`,
      [patientId],
    );
    return rows.map((r) => ({
      ruleId: r.rule_id,
      actor: r.actor,
      at: r.at.toISOString(),
      oldValue: r.old_value,
      newValue: r.new_value,
      reason: r.reason,
    }));
  }
}
