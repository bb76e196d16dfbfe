import { describe, expect, it } from 'vitest';
import { articlesFor, loadLibrary } from '../../../hub/content/library';
import { BUILTIN_ROLES } from '../../../hub/programs/builtin-roles';
import { ProgramError, roleGrants, validateDefinition } from '../../../hub/programs/definition';
import { changedPaths } from '../../../hub/programs/store';

const ctx = { questionnaires: new Set(['oral-chemo-weekly']), roles: BUILTIN_ROLES };
const base = {
  id: 'addiction_care',
  name: 'Addiction care',
  metrics: ['heart_rate', 'blood_pressure_systolic'],
  rules: { 'sepsis-red-flags': { params: { heartRateAbove: 120 } } },
  roles: [{ id: 'addiction_counsellor', kind: 'coaching', label: 'Counsellor', sees: ['coaching', 'messages'] }],
};
const codeOf = (input: unknown) => {
  try {
    validateDefinition(input, ctx);
    return 'OK';
  } catch (e) {
    return e instanceof ProgramError ? e.code : String(e);
  }
};

describe('program definition validation', () => {
  it('accepts a definition and fills the defaults', () => {
    const d = validateDefinition(base, ctx);
    expect(d).toMatchObject({
      deviceKinds: [],
      questionnaires: [],
      durationDays: null,
      content: { articles: [], tags: [] },
    });
    expect(d.rules['sepsis-red-flags']).toEqual({ enabled: true, params: { heartRateAbove: 120 } });
  });

  it('answers each refusal with its stable code', () => {
    expect(codeOf({ ...base, id: 'Bad Id' })).toBe('PROGRAM_INVALID');
    expect(codeOf({ ...base, extra: true })).toBe('PROGRAM_INVALID');
    expect(codeOf({ ...base, rules: { 'no-such-rule': {} } })).toBe('RULE_UNKNOWN');
    // outside the range the hub accepts for heart rate (contract/metrics.ts: 20-300)
    expect(codeOf({ ...base, rules: { 'sepsis-red-flags': { params: { heartRateAbove: 500 } } } })).toBe(
      'THRESHOLD_OUT_OF_RANGE',
    );
    // a parameter the rule does not have
    expect(codeOf({ ...base, rules: { 'sepsis-red-flags': { params: { heartRate: 100 } } } })).toBe(
      'THRESHOLD_OUT_OF_RANGE',
    );
    // a rule watching none of the program's metrics would never run
    expect(codeOf({ ...base, rules: { 'spo2-low': {} } })).toBe('PROGRAM_INVALID');
    expect(codeOf({ ...base, questionnaires: [{ id: 'audit-c', everyDays: 7 }] })).toBe('QUESTIONNAIRE_UNKNOWN');
    expect(codeOf({ ...base, roles: [{ id: 'admin', kind: 'clinical', label: 'A', sees: [] }] })).toBe('ROLE_INVALID');
    expect(codeOf({ ...base, roles: [{ id: 'dietitian', kind: 'clinical', label: 'D', sees: [] }] })).toBe(
      'ROLE_INVALID',
    );
    expect(
      codeOf({
        ...base,
        roles: [{ id: 'addiction_counsellor', kind: 'coaching', label: 'C', sees: ['alerts_triage'] }],
      }),
    ).toBe('ROLE_INVALID');
  });

  it('gives each role the capabilities of its view, and patients.read', () => {
    const d = validateDefinition(base, ctx);
    expect(roleGrants(d)).toEqual([
      { role: 'addiction_counsellor', capability: 'patients.read' },
      { role: 'addiction_counsellor', capability: 'coaching.read' },
      { role: 'addiction_counsellor', capability: 'messages.use' },
    ]);
  });

  it('names what changed between two versions, whatever the key order', () => {
    const a = validateDefinition(base, ctx);
    const b = validateDefinition(
      { ...base, rules: { 'sepsis-red-flags': { params: { heartRateAbove: 110 } } }, name: 'Addiction care' },
      ctx,
    );
    expect(changedPaths(a, b)).toEqual(['rules.sepsis-red-flags']);
    const reordered = JSON.parse(JSON.stringify({ ...a, roles: a.roles, id: a.id })) as typeof a;
    expect(changedPaths(a, reordered)).toEqual([]);
  });
});

describe('program content', () => {
  it('selects articles by id and by tag (the library folder)', () => {
    const library = loadLibrary();
    const byId = articlesFor(library, { articles: ['fiche-capecitabine'], tags: [] }, 'pharmacist');
    expect(byId.map((a) => a.id)).toEqual(['fiche-capecitabine']);
    const byTag = articlesFor(library, { articles: [], tags: ['cardiovascular_prevention'] }, 'patient');
    expect(byTag.length).toBeGreaterThan(0);
    expect(byTag.every((a) => a.program === 'cardiovascular_prevention')).toBe(true);
    expect(articlesFor(library, { articles: [], tags: [] }, 'patient')).toEqual([]);
  });
});
