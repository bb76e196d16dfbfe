/**
 * Issue 17: a box installs only a release it can trust and run: signed with its release key, the
 * exact bundle the manifest pins, built against the native modules it has; the previous bundle is
 * kept for rollback. Runs the real `vigil-gateway install-release` / `rollback` commands.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateReleaseKeys, writeRelease } from '../../../deploy/release';

const gatewayCli = (args: string[]) => {
  try {
    return {
      status: 0,
      out: execFileSync(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
      }),
      err: '',
    };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { status: x.status, out: x.stdout, err: x.stderr };
  }
};

describe('vigil-gateway install-release and rollback', () => {
  const box = mkdtempSync(join(tmpdir(), 'vigil-box-'));
  const dist = join(box, 'dist');
  afterAll(() => rmSync(box, { recursive: true, force: true }));
  // the box: dist/gateway.mjs (the running 0.1.0) and node_modules/better-sqlite3 as installed
  mkdirSync(join(box, 'node_modules', 'better-sqlite3'), { recursive: true });
  cpSync('node_modules/better-sqlite3/package.json', join(box, 'node_modules', 'better-sqlite3', 'package.json'));
  mkdirSync(dist);
  writeFileSync(join(dist, 'gateway.mjs'), 'console.log("0.1.0");\n');
  const keys = generateReleaseKeys();
  const publicKey = join(box, 'release-public.pem');
  writeFileSync(publicKey, keys.publicKeyPem);
  const release = (version: string, privateKeyPem = keys.privateKeyPem) => {
    const bundle = join(box, `src-${version}.mjs`);
    writeFileSync(bundle, `console.log(${JSON.stringify(version)});\n`);
    return writeRelease({ bundle, outdir: join(box, 'out'), version, privateKeyPem, root: '.' });
  };
  const running = () => readFileSync(join(dist, 'gateway.mjs'), 'utf8');

  it('refuses a release signed with another key, or whose bundle was changed, and keeps the running one', () => {
    const forged = gatewayCli([
      'install-release',
      release('0.2.0', generateReleaseKeys().privateKeyPem).manifest,
      '--public-key',
      publicKey,
      '--dist',
      dist,
    ]);
    expect(forged.status).toBe(2);
    expect(forged.err).toMatch(/^RELEASE_SIGNATURE_INVALID: /);
    const r = release('0.2.1');
    writeFileSync(r.artifact, 'console.log("tampered");\n');
    const tampered = gatewayCli(['install-release', r.manifest, '--public-key', publicKey, '--dist', dist]);
    expect(tampered.status).toBe(2);
    expect(tampered.err).toMatch(/^RELEASE_DIGEST_MISMATCH: /);
    expect(running()).toBe('console.log("0.1.0");\n');
  });

  it('refuses a release built against other native modules than the box has', () => {
    const r = release('0.2.2');
    const manifest = JSON.parse(readFileSync(r.manifest, 'utf8')) as { native: Record<string, string> };
    writeFileSync(join(box, 'node_modules', 'better-sqlite3', 'package.json'), JSON.stringify({ version: '1.0.0' }));
    try {
      const res = gatewayCli(['install-release', r.manifest, '--public-key', publicKey, '--dist', dist]);
      expect(res.status).toBe(2);
      expect(res.err).toContain(
        `RELEASE_NATIVE_MISMATCH: release 0.2.2 was built against better-sqlite3 ${manifest.native['better-sqlite3']}`,
      );
    } finally {
      cpSync('node_modules/better-sqlite3/package.json', join(box, 'node_modules', 'better-sqlite3', 'package.json'));
    }
  });

  it('installs a good release, keeps the previous bundle, and rolls back to it', () => {
    const ok = gatewayCli(['install-release', release('0.3.0').manifest, '--public-key', publicKey, '--dist', dist]);
    expect(ok.status, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ event: 'release.installed', version: '0.3.0' });
    expect(running()).toBe('console.log("0.3.0");\n');
    const back = gatewayCli(['rollback', '--dist', dist]);
    expect(back.status, back.err).toBe(0);
    expect(running()).toBe('console.log("0.1.0");\n');
    const again = gatewayCli(['rollback', '--dist', dist]);
    expect(again.status).toBe(2);
    expect(again.err).toMatch(/^ROLLBACK_UNAVAILABLE: /);
  });
});
