import { readFileSync } from 'node:fs';
import { releaseVersionSchema } from '../../deploy/release';
import { intArg, schemaArg } from '../../contract/cli';
import { printJson, type RegisterCommands } from './context';

/** Gateway software: publish a signed release, roll it out to a share of the fleet, see versions. */
export const registerFleet: RegisterCommands = (program, ctx) => {
  program
    .command('release-publish')
    .description('store a signed gateway release (refused unless its signature verifies with the public key)')
    .argument('<manifest>', 'vigil-gateway-<version>.manifest.json; the .manifest.sig and .mjs beside it')
    .requiredOption('--public-key <pem>', 'the release public key (deploy/release.ts keygen)')
    .action((manifestFile: string, opts: { publicKey: string }) =>
      ctx.withPool(async (pool) => {
        const base = manifestFile.replace(/\.manifest\.json$/, '');
        const { publishRelease } = await import('../fleet/releases');
        const manifest = await publishRelease(pool, {
          manifest: readFileSync(manifestFile),
          signature: readFileSync(`${base}.manifest.sig`, 'utf8').trim(),
          artifact: readFileSync(`${base}.mjs`),
          publicKeyPem: readFileSync(opts.publicKey, 'utf8'),
        });
        printJson({ event: 'release.published', version: manifest.version, sha256: manifest.sha256 });
      }),
    );

  program
    .command('rollout')
    .description('offer a published release to a percentage of the not-revoked boxes (0 stops it)')
    .argument('<version>', 'a published release version', schemaArg(releaseVersionSchema, 'release version'))
    .argument('<percent>', 'share of the fleet, 0-100', intArg(0, 100))
    .option(
      '--max-failures <n>',
      'halt on its own once more boxes than this rolled back or refused it',
      intArg(0, 100_000),
      0,
    )
    .action((version: string, percent: number, opts: { maxFailures: number }) =>
      ctx.withPool(async (pool) => {
        const { currentRollout, startRollout } = await import('../fleet/releases');
        await startRollout(pool, version, percent, 'admin', opts.maxFailures);
        const plan = await currentRollout(pool);
        printJson({
          event: 'rollout.started',
          version,
          percent,
          maxFailures: opts.maxFailures,
          offered: plan?.offered.length ?? 0,
        });
      }),
    );

  program
    .command('fleet-versions')
    .description('software versions the boxes report, and the current rollout')
    .action(() =>
      ctx.withPool(async (pool) => {
        const { currentRollout, fleetVersions } = await import('../fleet/releases');
        const { updateStates } = await import('../fleet/ota');
        const rollout = await currentRollout(pool);
        printJson({
          versions: await fleetVersions(pool),
          rollout: rollout ?? null,
          // per box: offered, downloading, installed, waiting, switching, healthy, rolled_back, refused
          updates: rollout ? await updateStates(pool, rollout.version) : [],
        });
      }),
    );
};
