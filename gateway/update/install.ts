import { existsSync, readFileSync, renameSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeVersions, verifyArtifact, verifyManifest, type ReleaseManifest } from '../../deploy/release';

/**
 * Installs a signed gateway release on the box by hand (the over-the-air agent, ota-agent.ts, uses
 * the same checks). Nothing is replaced unless the
 * manifest signature verifies with the box's release public key, the bundle is the one the
 * manifest pins, and the native modules on the box are the versions the bundle was built for.
 * The running bundle is kept as gateway.previous.mjs for `rollback`; the swap is a rename.
 */
export class InstallError extends Error {
  readonly code: 'RELEASE_NATIVE_MISMATCH' | 'RELEASE_NODE_TOO_OLD' | 'ROLLBACK_UNAVAILABLE';
  constructor(code: InstallError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface InstallPaths {
  /** directory holding gateway.mjs (the bundle systemd runs) */
  distDir: string;
  /** where node_modules lives (the native modules the bundle loads) */
  appRoot: string;
}

/**
 * Every check a box makes before it runs a release: the manifest signature with the box's pinned
 * release public key, the bundle against the manifest, the Node floor, the native modules.
 */
export function checkRelease(
  appRoot: string,
  release: { manifest: Buffer; signature: string; artifact: Buffer; publicKeyPem: string },
  nodeMajor = Number(process.versions.node.split('.')[0]),
): ReleaseManifest {
  const manifest = verifyManifest(release.manifest, release.signature, release.publicKeyPem);
  verifyArtifact(manifest, release.artifact);
  if (nodeMajor < manifest.nodeMajor)
    throw new InstallError('RELEASE_NODE_TOO_OLD', `release ${manifest.version} needs Node ${manifest.nodeMajor}`);
  const installed = nativeVersions(appRoot);
  for (const [name, version] of Object.entries(manifest.native))
    if (installed[name] !== version)
      throw new InstallError(
        'RELEASE_NATIVE_MISMATCH',
        `release ${manifest.version} was built against ${name} ${version}; the box has ${installed[name] ?? 'none'}`,
      );
  return manifest;
}

export function installRelease(
  paths: InstallPaths,
  release: { manifest: Buffer; signature: string; artifact: Buffer; publicKeyPem: string },
  nodeMajor = Number(process.versions.node.split('.')[0]),
): ReleaseManifest {
  const manifest = checkRelease(paths.appRoot, release, nodeMajor);
  const current = join(paths.distDir, 'gateway.mjs');
  const staged = join(paths.distDir, `.${manifest.file}.staged`);
  writeFileSync(staged, release.artifact);
  if (existsSync(current)) copyFileSync(current, join(paths.distDir, 'gateway.previous.mjs'));
  renameSync(staged, current);
  return manifest;
}

/** Puts the previous bundle back (after an install that did not come back healthy). */
export function rollbackRelease(paths: InstallPaths): void {
  const previous = join(paths.distDir, 'gateway.previous.mjs');
  if (!existsSync(previous)) throw new InstallError('ROLLBACK_UNAVAILABLE', 'no previous bundle kept on this box');
  renameSync(previous, join(paths.distDir, 'gateway.mjs'));
}

/** Reads a release from the three files the build writes (…manifest.json, …manifest.sig, ….mjs). */
export function readReleaseFiles(manifestFile: string): { manifest: Buffer; signature: string; artifact: Buffer } {
  const base = manifestFile.replace(/\.manifest\.json$/, '');
  return {
    manifest: readFileSync(manifestFile),
    signature: readFileSync(`${base}.manifest.sig`, 'utf8').trim(),
    artifact: readFileSync(`${base}.mjs`),
  };
}
