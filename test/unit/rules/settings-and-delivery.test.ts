import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../../hub/delivery/signature';
import { backoffMs } from '../../../hub/delivery/webhooks';
import { DEFAULT_RULES, ruleById } from '../../../hub/rules/catalog';
import { effective } from '../../../hub/rules/settings';

describe('rule catalog', () => {
  it('every default rule cites its source and has valid defaults', () => {
    for (const r of DEFAULT_RULES) {
      expect(r.source, r.id).toMatch(/docs\/clinical\/rules\.md|\(20\d\d\)|20\d\d/);
      expect(() => r.params.parse({}), r.id).not.toThrow();
    }
    expect(new Set(DEFAULT_RULES.map((r) => r.id)).size).toBe(DEFAULT_RULES.length);
  });
});

describe('effective rule parameters: defaults < program < patient override', () => {
  const spo2 = ruleById('spo2-low')!;
  it('merges and validates', () => {
    expect(effective(spo2).params).toMatchObject({ below: 92, minGapMinutes: 15 });
    expect(effective(spo2, { params: { below: 91 } }, { params: { minGapMinutes: 20 } }).params).toMatchObject({
      below: 91,
      minGapMinutes: 20,
    });
    expect(effective(spo2, { params: { below: 91 }, enabled: true }, { params: {}, enabled: false }).enabled).toBe(
      false,
    );
    expect(() => effective(spo2, undefined, { params: { below: 'x' } })).toThrow();
    expect(() => effective(spo2, undefined, { params: { unknown: 1 } })).toThrow();
  });
});

describe('webhook delivery primitives', () => {
  it('exponential backoff, capped', () => {
    expect([1, 2, 3, 4, 5, 10].map((a) => backoffMs(a, 1000, 10_000))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });
  it('HMAC-SHA256 signature over timestamp and body', () => {
    const s = sign('secret', 1700000000, '{"a":1}');
    expect(s).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify('secret', 1700000000, '{"a":1}', s)).toBe(true);
    expect(verify('secret', 1700000001, '{"a":1}', s)).toBe(false);
    expect(verify('secret', 1700000000, '{"a":2}', s)).toBe(false);
  });
});
