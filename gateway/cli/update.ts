import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printJson, type RegisterCommands } from './context';

/** the dist/ directory of the running bundle, and the application root above it */
const runningPaths = () => {
  const distDir = dirname(resolve(fileURLToPath(import.meta.url)));
  return { distDir, appRoot: resolve(distDir, '..') };
};

/** Installing a signed release on the box, and going back (gateway/update/install.ts). */
export const registerUpdate: RegisterCommands = (program) => {
  program
    .command('install-release')
    .description(
      'check a signed release (signature, digest, native modules) and make it the bundle; restart the service after',
    )
    .argument('<manifest>', 'vigil-gateway-<version>.manifest.json; the .manifest.sig and .mjs beside it')
    .option('--public-key <pem>', 'the release public key', '/etc/vigil/release-public.pem')
    .option('--dist <dir>', 'directory of gateway.mjs (default: the running bundle’s)')
    .action(async (manifestFile: string, opts: { publicKey: string; dist?: string }) => {
      const { installRelease, readReleaseFiles } = await import('../update/install');
      const paths = opts.dist ? { distDir: opts.dist, appRoot: resolve(opts.dist, '..') } : runningPaths();
      const manifest = installRelease(paths, {
        ...readReleaseFiles(manifestFile),
        publicKeyPem: readFileSync(opts.publicKey, 'utf8'),
      });
      printJson({ event: 'release.installed', version: manifest.version, sha256: manifest.sha256 });
    });

  program
    .command('rollback')
    .description('put back the bundle that ran before the last install-release; restart the service after')
    .option('--dist <dir>', 'directory of gateway.mjs (default: the running bundle’s)')
    .action(async (opts: { dist?: string }) => {
      const { rollbackRelease } = await import('../update/install');
      rollbackRelease(opts.dist ? { distDir: opts.dist, appRoot: resolve(opts.dist, '..') } : runningPaths());
      printJson({ event: 'release.rolled_back' });
    });
};
