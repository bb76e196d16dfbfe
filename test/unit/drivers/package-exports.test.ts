import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as bySdkPath from '../../../drivers/sdk';
import * as byName from 'vigil/drivers/sdk';

const ROOT = join(import.meta.dirname, '../../..');

/** drivers/README.md tells integrators to `import ... from 'vigil/drivers/sdk'`: package.json "exports" makes it so. */
describe('package exports', () => {
  it('vigil/drivers/sdk resolves by package name to the driver SDK', () => {
    expect(byName.defineDriver).toBe(bySdkPath.defineDriver);
    expect(typeof byName.ByteReader).toBe('function');
    expect(typeof byName.loadDriversFromFolder).toBe('function');
  });

  it('Node itself resolves it (a driver module run by the gateway, not only the test runner)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "const sdk = await import('vigil/drivers/sdk'); console.log(typeof sdk.defineDriver, typeof sdk.ResultBuilder);",
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('function function');
  });
});
