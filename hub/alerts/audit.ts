import type pg from 'pg';
import { withClient } from '../storage/postgres/database';

export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Appends to the audit log. `detail` carries ids and codes only, never personal data. */
export async function audit(
  q: Queryable,
  e: { actor: string; action: string; entity: string; entityId: string | number; detail?: object; at: Date },
): Promise<void> {
  await q.query(
    'INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.at, e.actor, e.action, e.entity, String(e.entityId), JSON.stringify(e.detail ?? {})],
  );
}

/** Serialises episode changes of one patient across hub instances for the transaction. */
export async function lockPatient(client: pg.PoolClient, patientId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('vigil-episodes:' || $1))`, [patientId]);
}

export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      // the caller sees the original error; a connection that cannot roll back is destroyed, not pooled
      await client.query('ROLLBACK').catch(markBroken);
      throw e;
    }
  });
}
