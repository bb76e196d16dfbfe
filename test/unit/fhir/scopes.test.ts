import { describe, expect, it } from 'vitest';
import { grantFor, parseScope, ScopeError, validateScopes } from '../../../hub/fhir/scopes';

describe('SMART scopes (App Launch 1.0 and 2.0 syntax)', () => {
  it('parses v1 and v2 permissions into read and search', () => {
    expect(parseScope('user/Observation.read')).toEqual({
      context: 'user',
      resource: 'Observation',
      read: true,
      search: true,
    });
    expect(parseScope('patient/*.rs')).toMatchObject({ context: 'patient', resource: '*', read: true, search: true });
    expect(parseScope('system/Task.s')).toMatchObject({ read: false, search: true });
    expect(parseScope('user/Task.cud')).toMatchObject({ read: false, search: false });
    expect(parseScope('user/Patient.write')).toMatchObject({ read: false, search: false });
    expect(parseScope('user/*.*')).toMatchObject({ read: true, search: true });
    // v2 letters are ordered c r u d s: another order is not a scope
    for (const s of ['openid', 'launch/patient', 'user/Observation.sr', 'user/observation.read', 'user/Observation.'])
      expect(parseScope(s)).toBeUndefined();
  });

  it('grants per type and interaction; patient/ only with the token’s patient', () => {
    expect(grantFor(['user/Observation.s'], null, 'Observation', 'search')).toEqual({ kind: 'any' });
    expect(grantFor(['user/Observation.s'], null, 'Observation', 'read')).toEqual({ kind: 'none' });
    expect(grantFor(['user/Observation.s'], null, 'Patient', 'search')).toEqual({ kind: 'none' });
    expect(grantFor([], null, 'Patient', 'read')).toEqual({ kind: 'none' });
    expect(grantFor(['patient/*.read'], 'P1', 'Flag', 'search')).toEqual({ kind: 'patient', patientId: 'P1' });
    expect(grantFor(['patient/*.read'], null, 'Flag', 'search')).toEqual({ kind: 'none' });
    // a user scope is wider than a patient one: it wins
    expect(grantFor(['patient/*.read', 'user/Flag.rs'], 'P1', 'Flag', 'search')).toEqual({ kind: 'any' });
    expect(grantFor(['system/*.read'], null, 'Communication', 'search')).toEqual({ kind: 'any' });
  });

  it('validates what an admin issues: known types only, patient/ needs a patient, sorted and unique', () => {
    expect(validateScopes(['user/Task.read', 'user/Flag.rs', 'user/Task.read'], null)).toEqual([
      'user/Flag.rs',
      'user/Task.read',
    ]);
    expect(() => validateScopes(['user/Binary.read'], null)).toThrow(ScopeError);
    expect(() => validateScopes(['openid'], null)).toThrow(/INVALID_SCOPE/);
    expect(() => validateScopes(['patient/Observation.rs'], null)).toThrow(/patient the token is issued for/);
    expect(validateScopes(['patient/Observation.rs'], 'P1')).toEqual(['patient/Observation.rs']);
  });
});
