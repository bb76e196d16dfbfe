import { describe, expect, it } from 'vitest';
import { cycles, importsOf, sourceFiles } from './import-graph';

// the public entry points the tools around the hub and the gateway may use
const PUBLIC = new Set(['hub/index.ts', 'gateway/index.ts']);

describe('import structure', () => {
  it('hub/ has no import cycle (type-only imports included)', () => {
    expect(cycles(sourceFiles('hub'))).toEqual([]);
  });

  it('gateway/ has no import cycle', () => {
    expect(cycles(sourceFiles('gateway'))).toEqual([]);
  });

  it('simulators, dashboards and benches reach hub and gateway only through hub/index.ts and gateway/index.ts', () => {
    const internal = ['simulators', 'dashboards', 'bench'].flatMap((dir) =>
      sourceFiles(dir).flatMap((f) =>
        importsOf(f)
          .filter((t) => (t.startsWith('hub/') || t.startsWith('gateway/')) && !PUBLIC.has(t))
          .map((t) => `${f} -> ${t}`),
      ),
    );
    expect(internal).toEqual([]);
  });

  it('the graph reader sees imports (a check that cannot fail is no check)', () => {
    expect(importsOf('hub/rules/rule.ts')).toContain('hub/vocabulary.ts');
    expect(cycles(['test/unit/structure/fixtures/a.ts', 'test/unit/structure/fixtures/b.ts'])).toEqual([
      ['test/unit/structure/fixtures/a.ts', 'test/unit/structure/fixtures/b.ts'],
    ]);
  });
});
