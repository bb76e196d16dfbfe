import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../../drivers/builtin';
import type { Advertisement } from '../../../drivers/sdk/definition';
import { hexToBytes, packetVectorSchema, vectorFileSchema } from '../../../drivers/sdk/vectors';

const DRIVERS_DIR = join(import.meta.dirname, '../../../drivers');

function vectorFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? vectorFiles(join(dir, e.name)) : e.name.endsWith('.vectors.json') ? [join(dir, e.name)] : [],
  );
}

const registry = builtinRegistry();
const files = vectorFiles(DRIVERS_DIR);

describe('driver conformance: every vector file', () => {
  it('refuses a vector without a source (provenance: a spec example, a public capture, or "constructed per ...")', () => {
    const vector = { name: 'x', characteristic: '2a35', hex: '00', error: 'TRUNCATED' };
    const missing = packetVectorSchema.safeParse(vector);
    expect(missing.success).toBe(false);
    expect(missing.error?.issues[0]).toMatchObject({ path: ['source'] });
    expect(missing.error?.issues[0]?.message).toMatch(/every vector needs a "source"/);
    expect(packetVectorSchema.safeParse({ ...vector, source: '  ' }).success).toBe(false);
    expect(packetVectorSchema.safeParse({ ...vector, source: 'constructed per GSS 0x2A35' }).success).toBe(true);
    const file = { driver: 'd', advertisements: [{ name: 'a', matches: null }] };
    expect(vectorFileSchema.safeParse(file).success).toBe(false);
  });

  it('every entry of every file names its source', () => {
    const unsourced = files.flatMap((f) => {
      const raw = JSON.parse(readFileSync(f, 'utf8')) as {
        packets?: { name: string; source?: unknown }[];
        advertisements?: { name: string; source?: unknown }[];
      };
      return [...(raw.packets ?? []), ...(raw.advertisements ?? [])]
        .filter((v) => typeof v.source !== 'string' || !v.source.trim())
        .map((v) => `${relative(DRIVERS_DIR, f)}: ${v.name}`);
    });
    expect(unsourced).toEqual([]);
  });

  it('exists for every built-in driver', () => {
    const covered = files.map((f) => vectorFileSchema.parse(JSON.parse(readFileSync(f, 'utf8'))).driver);
    for (const d of registry.drivers) expect(covered, `vectors for ${d.definition.id}`).toContain(d.definition.id);
  });

  for (const file of files) {
    const vf = vectorFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    describe(relative(DRIVERS_DIR, file), () => {
      it('names a registered driver', () => expect(registry.get(vf.driver)).toBeDefined());

      vf.packets.forEach((v, i) => {
        it(`packet: ${v.name}`, () => {
          // a device address per vector: multi-packet state never leaks between vectors
          const address = `${vf.driver}/${i}`;
          if (v.device) registry.noteIdentity(address, v.device);
          for (const p of v.preceding ?? []) registry.decode(vf.driver, v.characteristic, hexToBytes(p), address);
          const out = registry.decode(vf.driver, v.characteristic, hexToBytes(v.hex), address);
          if (v.error !== undefined) {
            expect(out.ok ? 'decoded' : out.code).toBe(v.error);
            return;
          }
          if (!out.ok) throw new Error(`expected a decode, got ${out.message}`);
          expect(out.result.measurements).toHaveLength(v.measurements?.length ?? 0);
          v.measurements?.forEach((m, i) => expect(out.result.measurements[i]).toMatchObject(m));
          const rejected = out.result.rejected.map((r) => ({ field: r.field, code: r.code }));
          expect(rejected).toEqual(expect.arrayContaining(v.rejected ?? []));
          expect(rejected).toHaveLength(v.rejected?.length ?? 0);
          if (v.info) expect(out.result.info).toMatchObject(v.info);
        });
      });

      for (const a of vf.advertisements) {
        it(`advertisement: ${a.name}`, () => {
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
          if (a.matches === null) expect(matched === vf.driver ? vf.driver : null).toBeNull();
          else expect(matched).toBe(a.matches);
          if (a.matches && a.error) {
            const out = registry.decodeAdvertisement(a.matches, adv);
            expect(out.ok ? 'decoded' : out.code).toBe(a.error);
          } else if (a.matches && (a.measurements || a.rejected)) {
            const out = registry.decodeAdvertisement(a.matches, adv);
            if (!out.ok) throw new Error(out.message);
            expect(out.result.measurements).toHaveLength(a.measurements?.length ?? 0);
            a.measurements?.forEach((m, i) => expect(out.result.measurements[i]).toMatchObject(m));
            const rejected = out.result.rejected.map((r) => ({ field: r.field, code: r.code }));
            expect(rejected).toEqual(expect.arrayContaining(a.rejected ?? []));
            expect(rejected).toHaveLength(a.rejected?.length ?? 0);
          }
        });
      }
    });
  }
});
