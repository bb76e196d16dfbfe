/**
 * `npm run build`: compiled JavaScript run by plain `node` (no TypeScript loader at run time).
 *   dist/hub.mjs      the hub command line (npm packages stay external: `npm ci --omit=dev`)
 *   dist/fleet.mjs    the simulated gateway fleet (docker compose --profile demo)
 *   dist/migrations/  the PostgreSQL migrations, next to the hub bundle that applies them
 *   dist/static/      the web workspace's assets, next to the hub bundle that serves them
 *   dist/articles/    the education content (hub/content), dist/definitions/ the questionnaires
 *   dist/gateway.mjs  the gateway bundle for the box (deploy/build-gateway.mjs)
 *   dist/gateway-agent.mjs  the box's update supervisor, which runs the gateway bundle (gateway/agent.ts)
 * With VIGIL_RELEASE_VERSION and VIGIL_RELEASE_KEY (an ed25519 private key PEM file) it also
 * writes the signed release artifact under dist/release/ (deploy/release.ts).
 * Usage: tsx scripts/build.ts [outdir=dist]
 */
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundleGateway, releaseGateway } from '../deploy/build-gateway.mjs';

const out = process.argv[2] ?? 'dist';
rmSync(out, { recursive: true, force: true });

/** server-side bundles: every npm package external, resolved from node_modules at run time */
const serverBundle = (entry: string, file: string) =>
  build({
    entryPoints: [entry],
    outfile: join(out, file),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
  });

await serverBundle('hub/cli.ts', 'hub.mjs');
await serverBundle('simulators/fleet/cli.ts', 'fleet.mjs');
// hub/storage/postgres/migrate.ts reads `migrations/` beside the running module
cpSync('hub/storage/postgres/migrations', join(out, 'migrations'), { recursive: true });
// hub/web/plugin.ts serves the workspace's assets from `static/` beside the running module
cpSync('hub/web/static', join(out, 'static'), { recursive: true });
// hub/content/library.ts and hub/questionnaires/fhir.ts read their data beside the running module
cpSync('hub/content/articles', join(out, 'articles'), { recursive: true });
cpSync('hub/questionnaires/definitions', join(out, 'definitions'), { recursive: true });

const version = process.env.VIGIL_RELEASE_VERSION;
const key = process.env.VIGIL_RELEASE_KEY;
if (version && key) {
  console.log(JSON.stringify(await releaseGateway({ outdir: out, version, privateKeyPem: readFileSync(key, 'utf8') })));
} else {
  await bundleGateway(join(out, 'gateway.mjs'));
}
// installed once with the box; over-the-air updates replace gateway.mjs, never the supervisor
await bundleGateway(join(out, 'gateway-agent.mjs'), 'gateway/agent.ts');
console.log(JSON.stringify({ event: 'build.done', outdir: out }));
