import type { Advertisement } from './definition';
import type { DriverRegistry } from './registry';
import { hexToBytes, type VectorFile } from './vectors';

/** One vector's verdict: what was expected against what the registry did. */
export interface VectorVerdict {
  kind: 'packet' | 'advertisement';
  name: string;
  ok: boolean;
  /** why it failed, in one line */
  problem?: string;
}

/**
 * Checks a vector file against a registry as the conformance test does (test/unit/drivers/
 * conformance.test.ts), without a test runner: `npm run decode -- --vectors <file>` for
 * integrators. Expected measurements match partially (the fields a vector names, exactly).
 */
export function checkVectorFile(registry: DriverRegistry, vf: VectorFile): VectorVerdict[] {
  const out: VectorVerdict[] = [];
  if (!registry.get(vf.driver))
    return [{ kind: 'packet', name: '(file)', ok: false, problem: `no driver ${vf.driver} is loaded` }];
  vf.packets.forEach((v, i) => {
    const address = `${vf.driver}/vector-${i}`;
    // who the device says it is: the quirk registry applies what it knows for it
    if (v.device) registry.noteIdentity(address, v.device);
    for (const p of v.preceding ?? []) registry.decode(vf.driver, v.characteristic, hexToBytes(p), address);
    const r = registry.decode(vf.driver, v.characteristic, hexToBytes(v.hex), address);
    let problem: string | undefined;
    if (v.error !== undefined) {
      const got = r.ok ? 'decoded' : r.code;
      if (got !== v.error) problem = `expected error ${v.error}, got ${got}`;
    } else if (!r.ok) problem = `expected a decode, got ${r.code}: ${r.message}`;
    else
      problem =
        measurementsProblem(v.measurements ?? [], r.result.measurements) ??
        rejectedProblem(v.rejected ?? [], r.result.rejected) ??
        (v.info && !matches(v.info, r.result.info) ? `info ${JSON.stringify(r.result.info)}` : undefined);
    out.push({ kind: 'packet', name: v.name, ok: !problem, ...(problem ? { problem } : {}) });
  });
  for (const a of vf.advertisements) {
    const adv: Advertisement = {
      address: a.address,
      serviceUuids: a.serviceUuids,
      serviceData: Object.fromEntries(Object.entries(a.serviceData).map(([k, h]) => [k, hexToBytes(h)])),
      manufacturerData: Object.fromEntries(
        Object.entries(a.manufacturerData).map(([k, h]) => [Number(k), hexToBytes(h)]),
      ),
      ...(a.localName !== undefined ? { name: a.localName } : {}),
    };
    const matched = registry.match(adv)?.definition.id ?? null;
    let problem: string | undefined;
    if (a.matches === null) {
      if (matched === vf.driver) problem = `${vf.driver} matched an advertisement it must not`;
    } else if (matched !== a.matches) problem = `expected ${a.matches} to match, got ${matched ?? 'none'}`;
    else if (a.error || a.measurements || a.rejected) {
      const r = registry.decodeAdvertisement(a.matches, adv);
      if (a.error) {
        const got = r.ok ? 'decoded' : r.code;
        if (got !== a.error) problem = `expected error ${a.error}, got ${got}`;
      } else if (!r.ok) problem = `expected a decode, got ${r.code}: ${r.message}`;
      else
        problem =
          measurementsProblem(a.measurements ?? [], r.result.measurements) ??
          rejectedProblem(a.rejected ?? [], r.result.rejected);
    }
    out.push({ kind: 'advertisement', name: a.name, ok: !problem, ...(problem ? { problem } : {}) });
  }
  return out;
}

function measurementsProblem(expected: readonly object[], got: readonly object[]): string | undefined {
  if (expected.length !== got.length) return `expected ${expected.length} measurement(s), got ${got.length}`;
  const i = expected.findIndex((e, n) => !matches(e, got[n]));
  return i < 0 ? undefined : `measurement ${i}: expected ${JSON.stringify(expected[i])}, got ${JSON.stringify(got[i])}`;
}

function rejectedProblem(
  expected: readonly { field: string; code: string }[],
  got: readonly { field: string; code: string }[],
): string | undefined {
  const key = (r: { field: string; code: string }) => `${r.field}:${r.code}`;
  const a = expected.map(key).sort();
  const b = got.map(key).sort();
  return JSON.stringify(a) === JSON.stringify(b)
    ? undefined
    : `rejected: expected ${a.join(', ')}, got ${b.join(', ')}`;
}

/** every field the expectation names is equal in the value (arrays element by element) */
function matches(expected: unknown, value: unknown): boolean {
  if (Array.isArray(expected))
    return Array.isArray(value) && value.length === expected.length && expected.every((e, i) => matches(e, value[i]));
  if (expected !== null && typeof expected === 'object') {
    if (value === null || typeof value !== 'object') return false;
    return Object.entries(expected).every(([k, e]) => matches(e, (value as Record<string, unknown>)[k]));
  }
  return Object.is(expected, value);
}
