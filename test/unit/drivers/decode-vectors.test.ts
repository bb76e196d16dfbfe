import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDecodeVectors } from '../../../drivers/cli/decode';

const ROOT = join(import.meta.dirname, '../../..');
const readme = readFileSync(join(ROOT, 'drivers/README.md'), 'utf8');
const block = (marker: string): string => {
  const m = new RegExp(`<!-- ${marker}:start -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${marker}:end -->`).exec(
    readme,
  );
  if (!m?.[1]) throw new Error(`README block ${marker} not found`);
  return m[1];
};

// the README's example driver in an integrator's folder, with its vector file
const dir = mkdtempSync(join(tmpdir(), 'vigil-decode-vectors-'));
const drivers = join(dir, 'drivers');
const vectors = join(dir, 'acme-th1.vectors.json');
execFileSync('mkdir', ['-p', drivers]);
writeFileSync(
  join(drivers, 'acme-th1.ts'),
  block('example-driver').replace(/'vigil\/drivers\/sdk'/g, JSON.stringify(join(ROOT, 'drivers/sdk/index.ts'))),
);
writeFileSync(vectors, block('example-vectors'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (stdout = '') => stdout.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** `npm run -s decode -- --vectors <file> [--drivers <folder>]`: the conformance check, for integrators. */
describe('decode CLI, vectors mode', () => {
  it('checks every built-in vector file as the conformance test does: every vector passes', async () => {
    const files = readdirSync(join(ROOT, 'drivers'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.vectors.json'),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const r = await runDecodeVectors(['--vectors', join(ROOT, 'drivers', f)]);
      expect(r.stderr, f).toBeUndefined();
      expect(r.code, f).toBe(0);
      expect(lines(r.stdout).at(-1), f).toMatchObject({ failed: 0 });
    }
    const bp = await runDecodeVectors(['--vectors', join(ROOT, 'drivers/standard/blood-pressure.vectors.json')]);
    expect(lines(bp.stdout).length).toBeGreaterThan(20);
  });

  it('loads the integrator drivers of --drivers, as the gateway loads devices.driversFolder', async () => {
    const r = await runDecodeVectors(['--vectors', vectors, '--drivers', drivers]);
    expect(r.stderr).toBeUndefined();
    expect(r.code).toBe(0);
    expect(lines(r.stdout).at(-1)).toEqual({ driver: 'acme-th1', vectors: 6, failed: 0 });
    // without the folder the driver is unknown
    const without = await runDecodeVectors(['--vectors', vectors]);
    expect(without.code).toBe(1);
    expect(lines(without.stdout)[0]).toMatchObject({ ok: false, problem: 'no driver acme-th1 is loaded' });
  });

  it('a vector the driver does not meet fails with its reason; an unsourced one is refused', async () => {
    const vf = JSON.parse(block('example-vectors')) as { packets: { measurements?: { value: number }[] }[] };
    const first = vf.packets[0]?.measurements?.[0];
    if (first) first.value = 36.9;
    const wrong = join(dir, 'wrong.vectors.json');
    writeFileSync(wrong, JSON.stringify(vf));
    const r = await runDecodeVectors(['--vectors', wrong, '--drivers', drivers]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('VECTORS_FAILED: 1 of 6 vector(s) failed');
    expect(lines(r.stdout)[0]).toMatchObject({
      name: '36.85 C',
      ok: false,
      problem: expect.stringMatching(/measurement 0/) as string,
    });

    const unsourced = join(dir, 'unsourced.vectors.json');
    writeFileSync(
      unsourced,
      JSON.stringify({
        driver: 'acme-th1',
        packets: [{ name: 'x', characteristic: '2a1c', hex: '00', error: 'TRUNCATED' }],
      }),
    );
    const u = await runDecodeVectors(['--vectors', unsourced]);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/^VECTORS_INVALID: .*every vector needs a "source"/);
    expect(await runDecodeVectors(['--vectors'])).toMatchObject({ code: 2 });
  });

  it('runs as the npm script does (a process, exit status 0)', () => {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'drivers/cli/decode.ts', '--vectors', vectors, '--drivers', drivers],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(lines(out.trim()).at(-1)).toEqual({ driver: 'acme-th1', vectors: 6, failed: 0 });
  });
});
