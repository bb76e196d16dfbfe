/**
 * Signed gateway releases (issue 17): what the build writes and what a box checks before it runs
 * a new bundle. The signature is ed25519 (RFC 8032) over the exact bytes of the manifest, made
 * and checked with node:crypto; the manifest pins the bundle by SHA-256 and size.
 * Plain, erasable TypeScript with no project imports: Node 24 runs it as is from
 * deploy/build-gateway.mjs, and the gateway and hub import it.
 *   node deploy/release.ts keygen <dir>   writes release-private.pem (keep offline) and release-public.pem
 *   node deploy/release.ts verify <manifest.json> <manifest.sig> <release-public.pem> <artifact.mjs>
 */
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const RELEASE_NAME = 'vigil-gateway';
/** semantic version without build metadata, e.g. 1.4.0 or 1.5.0-rc.1 */
export const releaseVersionSchema = z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semantic version');
/** the native modules the bundle leaves external: the box must have these exact versions installed */
export const NATIVE_MODULES = ['better-sqlite3'] as const;

export const releaseManifestSchema = z.object({
  name: z.literal(RELEASE_NAME),
  version: releaseVersionSchema,
  file: z.string().regex(/^vigil-gateway-[0-9A-Za-z.+-]+\.mjs$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
  /** Node major version floor the bundle was built for */
  nodeMajor: z.number().int().min(24),
  native: z.record(z.string(), z.string()),
  createdAt: z.iso.datetime(),
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

export class ReleaseError extends Error {
  readonly code: 'RELEASE_SIGNATURE_INVALID' | 'RELEASE_MANIFEST_INVALID' | 'RELEASE_DIGEST_MISMATCH';
  constructor(code: ReleaseError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export function generateReleaseKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** ed25519 signature (base64) over the manifest bytes; node:crypto takes no digest for ed25519 */
export const signManifest = (manifestBytes: Buffer, privateKeyPem: string): string =>
  sign(null, manifestBytes, privateKeyPem).toString('base64');

/** The manifest, once its signature checks out with the release public key; throws ReleaseError otherwise. */
export function verifyManifest(manifestBytes: Buffer, signatureBase64: string, publicKeyPem: string): ReleaseManifest {
  let ok: boolean;
  try {
    ok = verify(null, manifestBytes, publicKeyPem, Buffer.from(signatureBase64, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new ReleaseError('RELEASE_SIGNATURE_INVALID', 'the release manifest signature does not verify');
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch {
    throw new ReleaseError('RELEASE_MANIFEST_INVALID', 'the release manifest is not JSON');
  }
  const parsed = releaseManifestSchema.safeParse(json);
  if (!parsed.success) throw new ReleaseError('RELEASE_MANIFEST_INVALID', parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

/** Throws unless `bundle` is exactly the file the (verified) manifest names. */
export function verifyArtifact(manifest: ReleaseManifest, bundle: Buffer): void {
  const digest = createHash('sha256').update(bundle).digest('hex');
  if (bundle.length !== manifest.size || digest !== manifest.sha256)
    throw new ReleaseError('RELEASE_DIGEST_MISMATCH', `the bundle is not the one release ${manifest.version} names`);
}

/** Installed versions of the native modules, read from node_modules under `root`. */
export function nativeVersions(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NATIVE_MODULES) {
    const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    };
    out[name] = pkg.version;
  }
  return out;
}

/** Writes vigil-gateway-<version>.mjs, its manifest and signature into `outdir`. */
export function writeRelease(opts: {
  bundle: string;
  outdir: string;
  version: string;
  privateKeyPem: string;
  root: string;
  createdAt?: Date;
}): { manifest: string; signature: string; artifact: string; sha256: string } {
  const version = releaseVersionSchema.parse(opts.version);
  const bytes = readFileSync(opts.bundle);
  const manifest: ReleaseManifest = {
    name: RELEASE_NAME,
    version,
    file: `${RELEASE_NAME}-${version}.mjs`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    nodeMajor: 24,
    native: nativeVersions(opts.root),
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
  };
  mkdirSync(opts.outdir, { recursive: true });
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const base = join(opts.outdir, `${RELEASE_NAME}-${version}`);
  writeFileSync(`${base}.mjs`, bytes);
  writeFileSync(`${base}.manifest.json`, manifestBytes);
  writeFileSync(`${base}.manifest.sig`, `${signManifest(manifestBytes, opts.privateKeyPem)}\n`);
  return {
    artifact: `${base}.mjs`,
    manifest: `${base}.manifest.json`,
    signature: `${base}.manifest.sig`,
    sha256: manifest.sha256,
  };
}

const [, script, command, ...args] = process.argv;
// run as `node deploy/release.ts ...` only: bundled into the hub or the gateway, import.meta.url is
// the bundle's own and this module must not take over its command line
const runDirectly =
  script !== undefined && script.endsWith('release.ts') && fileURLToPath(import.meta.url) === resolve(script);
if (runDirectly && command === 'verify') {
  // node deploy/release.ts verify <manifest.json> <manifest.sig> <public key PEM> <artifact.mjs>
  const [manifestFile, sigFile, keyFile, artifactFile] = args;
  if (!manifestFile || !sigFile || !keyFile || !artifactFile) {
    console.error('USAGE: verify <manifest.json> <manifest.sig> <public key PEM> <artifact.mjs>');
    process.exit(2);
  }
  try {
    const manifest = verifyManifest(
      readFileSync(manifestFile),
      readFileSync(sigFile, 'utf8').trim(),
      readFileSync(keyFile, 'utf8'),
    );
    verifyArtifact(manifest, readFileSync(artifactFile));
    console.log(JSON.stringify({ event: 'release.verified', version: manifest.version, sha256: manifest.sha256 }));
  } catch (e) {
    console.error(`${(e as { code?: string }).code ?? 'RELEASE_INVALID'}: ${(e as Error).message}`);
    process.exit(1);
  }
}
if (runDirectly && command === 'keygen') {
  const dir = args[0] ?? '.';
  const keys = generateReleaseKeys();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'release-private.pem'), keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'release-public.pem'), keys.publicKeyPem);
  console.log(
    JSON.stringify({ privateKey: join(dir, 'release-private.pem'), publicKey: join(dir, 'release-public.pem') }),
  );
}
