import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configurationDoc, wireContractDoc } from '../../scripts/gen-docs';

// The schemas are the documentation: the committed pages must be what the schemas generate.
describe('generated documentation', () => {
  it('docs/wire-contract.md matches the contract schemas', () => {
    expect(readFileSync('docs/wire-contract.md', 'utf8')).toBe(wireContractDoc());
  });
  it('docs/configuration.md matches the config schemas and environment maps', () => {
    expect(readFileSync('docs/configuration.md', 'utf8')).toBe(configurationDoc());
  });
});
