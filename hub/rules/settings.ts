import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
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
  return effective(rule, program.get(`${patient.facts.programId}|${rule.id}`), patient.overrides.get(rule.id));
}

/** Program settings and patient overrides of the rules (issue 5 item 3: who, when, old, new, reason). */
export class RuleSettings {
  constructor(
    private readonly pool: pg.Pool,
    readonly rules: readonly Rule[] = DEFAULT_RULES,
  ) {}

  async programSettings(): Promise<Map<string, RuleSetting>> {
    const { rows } = await this.pool.query<{
      program_id: string;
      rule_id: string;
      enabled: boolean;
      params: Record<string, unknown>;
    }>('SELECT program_id, rule_id, enabled, params FROM rule_settings');
    return new Map(rows.map((r) => [`${r.program_id}|${r.rule_id}`, { enabled: r.enabled, params: r.params }]));
  }

  /**
   * Facts and overrides of these patients, one query each. `processable`: leave out the patients
   * who withdrew consent (migration 100): rules never run for them.
   */
  async patients(
    ids: readonly string[] | 'all',
    opts: { processable?: boolean } = {},
  ): Promise<Map<string, PatientRuleState>> {
    const all = ids === 'all';
    const where = [all ? '' : 'id = ANY($1::text[])', opts.processable ? 'NOT vigil_processing_stopped(id)' : '']
      .filter(Boolean)
      .join(' AND ');
    const { rows } = await this.pool.query<{
      id: string;
      program_id: Program;
      chronic_lung_disease: boolean;
      created_at: Date;
    }>(
      `SELECT id, program_id, chronic_lung_disease, created_at FROM patients ${where ? `WHERE ${where}` : ''} ORDER BY id`,
      all ? [] : [ids],
    );
    const out = new Map<string, PatientRuleState>(
      rows.map((r) => [
        r.id,
        {
          facts: {
            id: r.id,
            programId: r.program_id,
            chronicLungDisease: r.chronic_lung_disease,
            enrolledAt: r.created_at,
          },
          overrides: new Map(),
        },
      ]),
    );
    const ov = await this.pool.query<{
      patient_id: string;
      rule_id: string;
      enabled: boolean | null;
      params: Record<string, unknown>;
    }>(
      `SELECT patient_id, rule_id, enabled, params FROM rule_overrides ${all ? '' : 'WHERE patient_id = ANY($1::text[])'}`,
      all ? [] : [ids],
    );
    for (const o of ov.rows) out.get(o.patient_id)?.overrides.set(o.rule_id, { enabled: o.enabled, params: o.params });
    return out;
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
      .filter((r) => appliesTo(r, p.facts.programId))
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
    await inTransaction(this.pool, async (c) => {
      const old = await c.query<{ enabled: boolean; params: Record<string, unknown> }>(
        'SELECT enabled, params FROM rule_settings WHERE program_id = $1 AND rule_id = $2 FOR UPDATE',
        [s.programId, s.ruleId],
      );
      const next = { enabled: s.enabled ?? true, params };
      await c.query(
        `INSERT INTO rule_settings (program_id, rule_id, enabled, params, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (program_id, rule_id) DO UPDATE SET enabled = EXCLUDED.enabled, params = EXCLUDED.params, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
        [s.programId, s.ruleId, next.enabled, JSON.stringify(params), s.actor, now],
      );
      await c.query(
        `INSERT INTO rule_setting_changes (scope, program_id, rule_id, actor, at, old_value, new_value, reason) VALUES ('program', $1, $2, $3, $4, $5, $6, $7)`,
        [
          s.programId,
          s.ruleId,
          s.actor,
          now,
          old.rows[0] ? JSON.stringify(old.rows[0]) : null,
          JSON.stringify(next),
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
