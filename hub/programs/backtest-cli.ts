import { readFile } from 'node:fs/promises';
import { createTemplate } from '../rules/replay/run';
import { createPool } from '../storage/postgres/database';
import { backtest } from './backtest';
import { ProgramError } from './definition';
import { ProgramStore } from './store';

/**
 * `npm run -s backtest -- <definition.json> <scenario.json> [...]`: the back-test of
 * docs/programs.md from a shell, on throw-away databases of VIGIL_REPLAY_PG (default the local
 * server). "current" is the program as a fresh hub has it (the built-in version 1, or none for a
 * new program); prints the comparison as JSON. Exit 2: bad usage, or a refused definition or scenario.
 */
async function main(args: string[]): Promise<number> {
  const [definitionFile, ...scenarioFiles] = args;
  if (!definitionFile || scenarioFiles.length === 0) {
    process.stderr.write('usage: npm run -s backtest -- <definition.json> <scenario.json> [more.json ...]\n');
    return 2;
  }
  const pgBase = process.env.VIGIL_REPLAY_PG ?? 'postgres://postgres@127.0.0.1:5432';
  const read = async (f: string): Promise<unknown> => JSON.parse(await readFile(f, 'utf8'));
  const template = await createTemplate(pgBase);
  try {
    const pool = createPool(`${pgBase}/${template.name}`, 1);
    const store = new ProgramStore(pool);
    try {
      const proposed = store.validate(await read(definitionFile));
      const current = await store.get(proposed.id).catch((e: unknown) => {
        if (e instanceof ProgramError && e.code === 'PROGRAM_NOT_FOUND') return null;
        throw e;
      });
      await pool.end();
      const result = await backtest({
        pgBase,
        programId: proposed.id,
        current: current && { version: current.version, definition: current.definition },
        proposed,
        scenarios: await Promise.all(scenarioFiles.map(read)),
        template: template.name,
      });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof ProgramError) {
        process.stderr.write(`${e.code}: ${[e.message, ...e.issues].join('; ')}\n`);
        return 2;
      }
      throw e;
    }
  } finally {
    await template.drop();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`BACKTEST_FAILED: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
