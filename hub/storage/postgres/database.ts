import pg from 'pg';
import { errorCode } from '../../../contract/errors';

/** Runs `fn` on a connection to the server's maintenance database, for the database named in `url`. */
async function withMaintenanceConnection(
  url: string,
  fn: (admin: pg.Client, name: string) => Promise<void>,
): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  // the name is interpolated into DDL (identifiers cannot be bound): plain names only
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe database name ${name}`);
  u.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: u.toString() });
  await admin.connect();
  try {
    await fn(admin, name);
  } finally {
    await admin.end();
  }
}

/** Creates the database named in `url` when it does not exist (demo and tests; production DBAs create it). */
export async function ensureDatabase(url: string): Promise<void> {
  await withMaintenanceConnection(url, async (admin, name) => {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount !== 0) return;
    await admin.query(`CREATE DATABASE ${name}`).catch((e: unknown) => {
      if (errorCode(e) !== '42P04') throw e; // 42P04 duplicate_database: created concurrently
    });
  });
}

export async function dropDatabase(url: string): Promise<void> {
  await withMaintenanceConnection(url, async (admin, name) => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
}

/**
 * Runs `fn` on a client checked out of the pool. A checked-out client has no pool listener: a
 * server closing it between two queries (PostgreSQL restart, 57P01) would emit an unhandled
 * 'error' and crash the process. The listener here keeps the error, and a broken client is
 * destroyed on release instead of going back to the pool. `fn` may also mark the client broken
 * itself (a failed ROLLBACK or unlock leaves the session in an unknown state).
 */
export async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, markBroken: (e: unknown) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error) => {
    broken = e;
  };
  const markBroken = (e: unknown) => {
    broken ??= e instanceof Error ? e : new Error(String(e));
  };
  client.on('error', onError);
  try {
    return await fn(client, markBroken);
  } catch (e) {
    broken ??= isConnectionError(e) ? (e as Error) : undefined;
    throw e;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * BEGIN ... COMMIT around `fn` on a client checked out by withClient; on failure ROLLBACK and the
 * error goes up. A client whose ROLLBACK fails is in an unknown state: it is marked broken, so it
 * is destroyed on release, not pooled.
 */
export async function inClientTransaction<T>(
  client: pg.PoolClient,
  markBroken: (e: unknown) => void,
  fn: () => Promise<T>,
): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(markBroken);
    throw e;
  }
}

/** Errors after which a connection cannot be reused (SQLSTATE classes 08 and 57P). */
function isConnectionError(e: unknown): boolean {
  const code = errorCode(e);
  return code !== undefined && (/^(08|57P)/.test(code) || /^E[A-Z]+$/.test(code));
}

export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  // an idle client losing its server (PostgreSQL restart) must not crash the process
  pool.on('error', () => {});
  return pool;
}
