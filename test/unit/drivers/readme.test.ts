import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../../drivers/builtin';
import { loadDriversFromFolder } from '../../../drivers/sdk/loader';
import { hexToBytes, vectorFileSchema } from '../../../drivers/sdk/vectors';

const DRIVERS = join(import.meta.dirname, '../../../drivers');
const readme = readFileSync(join(DRIVERS, 'README.md'), 'utf8');

function block(marker: string): string {
  const m = new RegExp(`<!-- ${marker}:start -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${marker}:end -->`).exec(
    readme,
  );
  if (!m?.[1]) throw new Error(`README block ${marker} not found`);
  return m[1];
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-readme-driver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('drivers/README.md walkthrough', () => {
  it('its example driver loads from a folder and decodes its vectors', async () => {
    const source = block('example-driver').replace(
      /'vigil\/drivers\/sdk'/g,
      JSON.stringify(join(DRIVERS, 'sdk/index.ts')),
    );
    writeFileSync(join(dir, 'acme-th1.ts'), source);
    const { registry, loaded, errors } = await loadDriversFromFolder(dir);
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(loaded.map((l) => l.definition.id)).toEqual(['acme-th1']);
    expect(loaded[0]?.definition.capabilities.battery).toBe(true);

    const vf = vectorFileSchema.parse(JSON.parse(block('example-vectors')));
    for (const v of vf.packets) {
      const out = registry.decode(vf.driver, v.characteristic, hexToBytes(v.hex));
      if (v.error) {
        expect(out.ok ? 'decoded' : out.code, v.name).toBe(v.error);
        continue;
      }
      if (!out.ok) throw new Error(`${v.name}: ${out.message}`);
      expect(out.result.measurements, v.name).toMatchObject(v.measurements ?? []);
      expect(
        out.result.rejected.map((r) => ({ field: r.field, code: r.code })),
        v.name,
      ).toEqual(v.rejected ?? []);
    }
    for (const a of vf.advertisements) {
      const matched = registry.match({
        address: a.address,
        name: a.localName,
        serviceUuids: a.serviceUuids,
        serviceData: {},
        manufacturerData: {},
      });
      if (a.matches === null) expect(matched?.definition.id, a.name).not.toBe(vf.driver);
      else expect(matched?.definition.id, a.name).toBe(a.matches);
    }
  });

  it('its table lists every built-in driver with the vector counts of its file', () => {
    const files = readdirSync(DRIVERS, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.vectors.json'),
    );
    const counts = new Map(
      files.map((f) => {
        const vf = vectorFileSchema.parse(JSON.parse(readFileSync(join(DRIVERS, f), 'utf8')));
        return [vf.driver, [vf.packets.length, vf.advertisements.length]] as const;
      }),
    );
    for (const d of builtinRegistry().drivers) {
      const row = new RegExp(`^\\| ${d.definition.id} \\|[^|]*\\| (\\d+) \\| (\\d+) \\|$`, 'm').exec(readme);
      expect(row, `README row for ${d.definition.id}`).not.toBeNull();
      expect([Number(row?.[1]), Number(row?.[2])], d.definition.id).toEqual(counts.get(d.definition.id));
    }
  });
});
