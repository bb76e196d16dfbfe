import { named } from '../storage/postgres/named';
import type pg from 'pg';
import { inClientTransaction, withClient } from '../storage/postgres/database';
import { ambientTransaction } from '../storage/postgres/transaction-scope';

export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Appends to the audit log. `detail` carries ids and codes only, never personal data. */
export async function audit(
  q: Queryable,
  e: { actor: string; action: string; entity: string; entityId: string | number; detail?: object; at: Date },
): Promise<void> {
  await q.query(
    named('INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6)'),
    [e.at, e.actor, e.action, e.entity, String(e.entityId), JSON.stringify(e.detail ?? {})],
  );
}

/** Serialises episode changes of one patient across hub instances for the transaction. */
export async function lockPatient(client: pg.PoolClient, patientId: string): Promise<void> {
  const scope = ambientTransaction();
  if (scope?.client === client && scope.locked.has(patientId)) return;
  await client.query(named(`SELECT pg_advisory_xact_lock(hashtext('vigil-episodes:' || $1))`), [patientId]);
  if (scope?.client === client) scope.locked.add(patientId);
}

/**
 * The patient locks of a whole group at once, in one fixed order (sorted ids), so two hub
 * instances or two groups locking overlapping patients wait for each other instead of deadlocking.
 */
export async function lockPatients(client: pg.PoolClient, patientIds: readonly string[]): Promise<void> {
  const ids = [...new Set(patientIds)].sort();
  if (ids.length === 0) return;
  await client.query(
    named(
      `SELECT pg_advisory_xact_lock(hashtext('vigil-episodes:' || p)) FROM (SELECT p FROM unnest($1::text[]) p ORDER BY p OFFSET 0) s`,
    ),
    [ids],
  );
  const scope = ambientTransaction();
  if (scope?.client === client) for (const id of ids) scope.locked.add(id);
}

/**
 * BEGIN ... COMMIT around `fn`, or, inside ingest's shared transaction (transaction-scope.ts), a
 * step of that transaction: its failure fails the whole shared transaction.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const scope = ambientTransaction();
  if (scope && !scope.ended) {
    try {
      return await fn(scope.client);
    } catch (e) {
      scope.failed ??= e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }
  return withClient(pool, (client, markBroken) => inClientTransaction(client, markBroken, () => fn(client)));
}
