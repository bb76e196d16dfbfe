import type { Command } from 'commander';
import type pg from 'pg';
import type { HubConfig } from '../config/schema';

/**
 * What every hub command group gets: the configuration and a migrated PostgreSQL pool, both
 * created only when a command actually runs (so `--help` and argument errors touch no store).
 */
export interface HubCliContext {
  /** the hub configuration: --config file < VIGIL_* environment */
  config(): Promise<HubConfig>;
  /** runs fn with a pool on the migrated database, then closes the pool */
  withPool<T>(fn: (pool: pg.Pool, config: HubConfig) => Promise<T>): Promise<T>;
}

/** One file per command group registers its commands on the root program. */
export type RegisterCommands = (program: Command, ctx: HubCliContext) => void;

export function hubCliContext(program: Command): HubCliContext {
  const config = async (): Promise<HubConfig> => {
    const { loadHubConfig } = await import('../config/load');
    const file = program.opts<{ config?: string }>().config;
    return loadHubConfig(file ? { file } : {});
  };
  return {
    config,
    async withPool(fn) {
      const cfg = await config();
      const { createPool, ensureDatabase } = await import('../storage/postgres/database');
      const { migrate } = await import('../storage/postgres/migrate');
      if (cfg.postgres.createDatabase) await ensureDatabase(cfg.postgres.url);
      const pool = createPool(cfg.postgres.url, 2);
      try {
        await migrate(pool);
        return await fn(pool, cfg);
      } finally {
        await pool.end();
      }
    },
  };
}

/** Prints a command's result as one JSON line (secrets shown once are part of it). */
export const printJson = (value: unknown): void => console.log(JSON.stringify(value));
