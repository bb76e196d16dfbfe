import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { withClient } from './database';

/**
 * One PostgreSQL transaction shared by many small transactional steps (ingest's group commit:
 * every episode change of a group's rule evaluations commits once, instead of one BEGIN ... COMMIT,
 * with its WAL flush, per evaluation). Code that opens its own transaction (alerts/audit.ts
 * inTransaction) joins the ambient one when there is one. A step that fails marks the scope:
 * the whole scope rolls back and its caller sees the error (the group is filed again), so no
 * step is half-applied.
 */
export interface TransactionScope {
  readonly client: pg.PoolClient;
  /** advisory lock keys already held by this transaction (re-taking them is a wasted round trip) */
  readonly locked: Set<string>;
  failed?: Error;
}

const ambient = new AsyncLocalStorage<TransactionScope>();

export function ambientTransaction(): TransactionScope | undefined {
  return ambient.getStore();
}

/** Runs `fn` inside one transaction on its own connection; commits when it and every step succeeded. */
export function inSharedTransaction<T>(pool: pg.Pool, fn: (scope: TransactionScope) => Promise<T>): Promise<T> {
  // withClient: a server closing the checked-out connection (restart) is an error, not a crash
  return withClient(pool, async (client, markBroken) => {
    try {
      await client.query('BEGIN');
      const scope: TransactionScope = { client, locked: new Set() };
      const out = await ambient.run(scope, () => fn(scope));
      if (scope.failed) throw scope.failed;
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(markBroken);
      throw e;
    }
  });
}
