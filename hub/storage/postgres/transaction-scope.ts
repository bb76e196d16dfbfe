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
  readonly pool: pg.Pool;
  readonly client: pg.PoolClient;
  /** advisory lock keys already held by this transaction (re-taking them is a wasted round trip) */
  readonly locked: Set<string>;
  failed?: Error;
  /** set once committed or rolled back: work started inside (a timer) and still running goes to the pool */
  ended?: boolean;
  /** the last routed query: the next one starts after it (pg 9 refuses overlapping queries on one client) */
  tail?: Promise<unknown>;
}

const ambient = new AsyncLocalStorage<TransactionScope>();

export function ambientTransaction(): TransactionScope | undefined {
  return ambient.getStore();
}

/**
 * Runs `fn` inside one transaction on its own connection; commits when it and every step succeeded.
 * `hold`, when given, is asked before each statement of the transaction (BEGIN and COMMIT aside):
 * a promise it returns makes the statement wait for it (ingest's bulk lane giving way to live
 * readings, hub/ingest/live-priority.ts).
 */
export function inSharedTransaction<T>(
  pool: pg.Pool,
  fn: (scope: TransactionScope) => Promise<T>,
  opts: { hold?: () => Promise<void> | undefined } = {},
): Promise<T> {
  // withClient: a server closing the checked-out connection (restart) is an error, not a crash
  return withClient(pool, async (client, markBroken) => {
    try {
      // generic plans for the transaction's prepared statements (plan_cache_mode, PostgreSQL docs
      // "Other Planner Options"), in the BEGIN's round trip: once the tables had statistics, PostgreSQL chose to plan
      // the episode breach statement again at each of its thousands of executions, 0.6 ms of
      // planning for 0.5 ms of work (bench/README.md "Session 12"). A generic plan is as good as
      // the statistics it was made with: growing-table-statistics.ts keeps them current.
      await client.query('BEGIN; SET LOCAL plan_cache_mode = force_generic_plan');
      const scope: TransactionScope = {
        pool,
        client: opts.hold ? heldClient(client, opts.hold) : client,
        locked: new Set(),
      };
      try {
        const out = await ambient.run(scope, () => fn(scope));
        if (scope.failed) throw scope.failed;
        scope.ended = true;
        await client.query('COMMIT');
        return out;
      } finally {
        scope.ended = true;
      }
    } catch (e) {
      await client.query('ROLLBACK').catch(markBroken);
      throw e;
    }
  });
}

const sharing = new WeakSet<pg.Pool>();

/**
 * Makes `pool.query` calls made inside a shared transaction of this pool run on that transaction's
 * connection. Without it, every step that reads through the pool (rule settings, history, open
 * episodes) needs a second connection while the transaction holds one idle: in a reconnect storm,
 * with the pool queued up by thousands of gateway authentications, the shards' transactions sat
 * idle in transaction waiting for connections. A failed routed query fails the shared transaction.
 */
export function shareAmbientTransaction(pool: pg.Pool): void {
  if (sharing.has(pool)) return;
  sharing.add(pool);
  type Query = (...args: unknown[]) => unknown;
  const direct = pool.query.bind(pool) as Query;
  (pool as unknown as { query: Query }).query = (...args: unknown[]) => {
    const scope = ambient.getStore();
    if (scope?.pool !== pool || scope.ended) return direct(...args);
    if (typeof args.at(-1) === 'function') return (scope.client.query as Query).apply(scope.client, args);
    // steps running side by side (Promise.all) queue their queries on the one connection
    const run = () => (scope.client.query as Query).apply(scope.client, args) as Promise<unknown>;
    const out = (scope.tail ?? Promise.resolve()).then(run, run);
    scope.tail = out.catch(() => undefined);
    return out.catch((e: unknown) => {
      scope.failed ??= e instanceof Error ? e : new Error(String(e));
      throw e;
    });
  };
}

/** The transaction's connection, each statement sent once `hold` lets it go. */
function heldClient(client: pg.PoolClient, hold: () => Promise<void> | undefined): pg.PoolClient {
  type Query = (...args: unknown[]) => unknown;
  const view = Object.create(client) as pg.PoolClient;
  const query = client.query.bind(client) as Query;
  (view as unknown as { query: Query }).query = (...args: unknown[]) => {
    const wait = hold();
    return wait ? wait.then(() => query(...args)) : query(...args);
  };
  return view;
}
