import { readFile } from 'node:fs/promises';
import { ZodError } from 'zod';
import { replay } from './run';

/**
 * `npm run -s replay -- <scenario.json> [...]`: replays each scenario through drivers, reading
 * factory, ingest and rules on a throw-away PostgreSQL database (VIGIL_REPLAY_PG, default the
 * local server) and prints one JSON object per scenario on stdout (docs/clinical/replay.md).
 * Exit 2: bad usage or an invalid scenario (the reason on stderr).
 */
async function main(args: string[]): Promise<number> {
  if (args.length === 0) {
    process.stderr.write('usage: npm run -s replay -- <scenario.json> [more.json ...]\n');
    return 2;
  }
  const pgBase = process.env.VIGIL_REPLAY_PG ?? 'postgres://postgres@127.0.0.1:5432';
  for (const file of args) {
    let input: unknown;
    try {
      input = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      process.stderr.write(`REPLAY_BAD_FILE: ${file}: ${(e as Error).message}\n`);
      return 2;
    }
    try {
      const result = await replay(input, { pgBase });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } catch (e) {
      if (e instanceof ZodError) {
        const issues = e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        process.stderr.write(`REPLAY_BAD_SCENARIO: ${file}: ${issues}\n`);
        return 2;
      }
      throw e;
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`REPLAY_FAILED: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
