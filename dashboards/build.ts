#!/usr/bin/env tsx
/**
 * npm run dashboards:build            writes the boards and provisioning files under dashboards/grafana/
 * npm run dashboards:build -- --check exits 1 when a committed file differs from the build
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildArtifacts } from './artifacts';

const root = join(import.meta.dirname, '..');
const check = process.argv.includes('--check');
const stale: string[] = [];
for (const [rel, content] of buildArtifacts()) {
  const file = join(root, rel);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === content) continue;
  if (check) {
    stale.push(rel);
    continue;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  console.log(`wrote ${rel}`);
}
if (check && stale.length) {
  console.error(`DASHBOARDS_STALE: ${stale.join(', ')} differ from the build; run npm run dashboards:build`);
  process.exit(1);
}
