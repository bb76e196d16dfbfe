/**
 * Issue 17: the signed gateway release. The build writes a versioned artifact, a manifest and an
 * ed25519 signature; a box accepts it only with the matching public key and the exact bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ReleaseError,
  generateReleaseKeys,
  verifyArtifact,
  verifyManifest,
  writeRelease,
} from '../../../deploy/release';

describe('signed gateway release', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-release-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keys = generateReleaseKeys();
  const bundle = join(dir, 'gateway.mjs');
  writeFileSync(bundle, 'console.log("gateway 1.2.3");\n');
  const out = writeRelease({
    bundle,
    outdir: join(dir, 'release'),
    version: '1.2.3',
    privateKeyPem: keys.privateKeyPem,
    root: '.',
  });
  const manifestBytes = readFileSync(out.manifest);
  const signature = readFileSync(out.signature, 'utf8').trim();

  it('names the artifact by version and pins it by SHA-256, size and native modules', () => {
    expect(out.artifact).toMatch(/vigil-gateway-1\.2\.3\.mjs$/);
    const manifest = verifyManifest(manifestBytes, signature, keys.publicKeyPem);
    expect(manifest).toMatchObject({
      name: 'vigil-gateway',
      version: '1.2.3',
      file: 'vigil-gateway-1.2.3.mjs',
      nodeMajor: 24,
    });
    expect(manifest.native['better-sqlite3']).toMatch(/^\d+\.\d+\.\d+/);
    expect(() => verifyArtifact(manifest, readFileSync(out.artifact))).not.toThrow();
  });

  it('refuses another key, a changed manifest and a changed bundle, each with its code', () => {
    const other = generateReleaseKeys();
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e instanceof ReleaseError ? e.code : 'OTHER';
      }
      return 'ACCEPTED';
    };
    expect(code(() => verifyManifest(manifestBytes, signature, other.publicKeyPem))).toBe('RELEASE_SIGNATURE_INVALID');
    const tampered = Buffer.from(manifestBytes.toString().replace('1.2.3', '9.9.9'));
    expect(code(() => verifyManifest(tampered, signature, keys.publicKeyPem))).toBe('RELEASE_SIGNATURE_INVALID');
    expect(code(() => verifyManifest(manifestBytes, 'not a signature', keys.publicKeyPem))).toBe(
      'RELEASE_SIGNATURE_INVALID',
    );
    const manifest = verifyManifest(manifestBytes, signature, keys.publicKeyPem);
    expect(code(() => verifyArtifact(manifest, Buffer.from('console.log("evil");\n')))).toBe('RELEASE_DIGEST_MISMATCH');
  });

  it('deploy/release.ts verify runs on plain Node 24 (type stripping) as the Pi install does', () => {
    const pub = join(dir, 'release-public.pem');
    writeFileSync(pub, keys.publicKeyPem);
    const ok = execFileSync(
      process.execPath,
      ['deploy/release.ts', 'verify', out.manifest, out.signature, pub, out.artifact],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(ok)).toMatchObject({ event: 'release.verified', version: '1.2.3' });
    writeFileSync(out.artifact, 'tampered');
    expect(() =>
      execFileSync(process.execPath, ['deploy/release.ts', 'verify', out.manifest, out.signature, pub, out.artifact], {
        stdio: 'pipe',
      }),
    ).toThrow(/RELEASE_DIGEST_MISMATCH/);
  });
});
