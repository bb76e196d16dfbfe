import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { inClientTransaction, withClient } from './database';
import { errorMessage } from '../../../contract/errors';

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
const LOCK_KEY = 7_341_902; // pg_advisory_lock key: one hub instance migrates at a time

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 3)), name: f.slice(4, -4), sql: readFileSync(join(dir, f), 'utf8') }));
}

/** Applies pending versioned migrations, each in its own transaction, under an advisory lock. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  return withClient(pool, async (client, markBroken) => {
    const applied: number[] = [];
    try {
      await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
      );
      for (const m of listMigrations()) {
        if (done.has(m.version)) continue;
        try {
          await inClientTransaction(client, markBroken, async () => {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          });
          applied.push(m.version);
        } catch (e) {
          throw new Error(`migration ${m.version}_${m.name} failed: ${errorMessage(e)}`, { cause: e });
        }
      }
    } finally {
      // a session lock is released when its session ends: a client that cannot unlock is destroyed
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(markBroken);
    }
    return applied;
  });
}
