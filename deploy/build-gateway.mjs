#!/usr/bin/env node
// Builds the gateway as one minified ES module for the box (plain node, no TypeScript loader:
// ~40 MiB less resident memory and a faster start than `node --import tsx`).
// Usage: node deploy/build-gateway.mjs [outdir=dist] [--release <version> --key <private key PEM>]
// Native addons and optional modules stay external and resolve from node_modules. Code the box
// can never run is left out, since V8 keeps every bundled function's source in its heap:
//  - zod's error-message translations (the box logs English codes) and JSON Schema converters;
//  - mqtt.js' WebSocket transport (the config accepts mqtt:// and mqtts:// only,
//    gateway/config/schema.ts), which pulls in ws.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** module path (inside node_modules) -> replacement source */
const LEFT_OUT = [
  { filter: /zod[\\/]v4[\\/]locales[\\/]index\.js$/, contents: 'export {};' },
  {
    filter: /zod[\\/]v4[\\/]classic[\\/]from-json-schema\.js$/,
    contents: 'export function fromJSONSchema() { throw new Error("not in the gateway build"); }',
  },
  {
    filter: /mqtt[\\/]build[\\/]lib[\\/]connect[\\/]ws\.js$/,
    contents:
      'exports.streamBuilder = () => { throw new Error("MQTT over WebSocket is not in the gateway build"); }; exports.browserStreamBuilder = exports.streamBuilder;',
    loader: 'js',
  },
];

const leaveOut = {
  name: 'vigil-leave-out',
  setup(b) {
    for (const { filter, contents, loader } of LEFT_OUT) {
      b.onLoad({ filter }, () => ({ contents, loader: loader ?? 'js' }));
    }
  },
};

/** Bundles gateway/cli.ts (or another gateway entry) into one ES module at `outfile`, stamped with `version`. */
export async function bundleGateway(outfile, entry = 'gateway/cli.ts', version = undefined) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  await build({
    // the version the box reports in its heartbeat (gateway/version.ts)
    define: { 'process.env.VIGIL_GATEWAY_BUILD_VERSION': JSON.stringify(version ?? pkg.version) },
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    external: ['better-sqlite3', '@abandonware/noble', 'usb', 'bufferutil', 'utf-8-validate', 'x11', 'esbuild'],
    banner: {
      js: "import { createRequire as __vigilRequire } from 'node:module'; const require = __vigilRequire(import.meta.url);",
    },
    plugins: [leaveOut],
    logLevel: 'error',
    outfile,
  });
}

/**
 * The versioned, signed release artifact for the boxes (issue 17): the bundle renamed
 * vigil-gateway-<version>.mjs, its manifest (version, SHA-256, size, Node floor, the native
 * modules it was built against) and an ed25519 signature over the manifest bytes
 * (deploy/release.ts). The boxes accept it only with the matching public key.
 */
export async function releaseGateway({ outdir, version, privateKeyPem }) {
  const { writeRelease } = await import('./release.ts');
  const bundle = join(outdir, 'gateway.mjs');
  await bundleGateway(bundle, 'gateway/cli.ts', version);
  return writeRelease({ bundle, outdir: join(outdir, 'release'), version, privateKeyPem, root });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  // node deploy/build-gateway.mjs [outdir=dist] [--release <version> --key <ed25519 private key PEM file>]
  const { values, positionals } = parseArgs({
    options: { release: { type: 'string' }, key: { type: 'string' } },
    allowPositionals: true,
  });
  const outdir = positionals[0] ?? 'dist';
  if (values.release) {
    if (!values.key) {
      console.error('USAGE: --release needs --key <ed25519 private key PEM> (node deploy/release.ts keygen <dir>)');
      process.exit(2);
    }
    const out = await releaseGateway({
      outdir,
      version: values.release,
      privateKeyPem: readFileSync(values.key, 'utf8'),
    });
    console.log(JSON.stringify(out));
  } else {
    await bundleGateway(join(outdir, 'gateway.mjs'));
  }
}
