/**
 * A PostgreSQL restart closes every connection, including one checked out of the pool in the
 * middle of a transaction. The hub must get an error for that transaction (and hold the message
 * it was filing), never crash on the client's 'error' event, and go on with fresh connections.
 */
import { waitFor } from '../support/wait';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../hub/alerts/audit';
import { migrate } from '../../hub/storage/postgres/migrate';
import { createTestPostgres, type TestPostgres } from '../support/stores';

describe('PostgreSQL connection lost during a transaction', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await createTestPostgres('vigil_connloss');
  });
  afterAll(async () => {
    await pg.drop();
  });

  it('fails the transaction, discards the broken client and keeps the process and pool working', async () => {
    const unhandled: unknown[] = [];
    const onUncaught = (e: unknown) => unhandled.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      let pid = 0;
      const attempt = inTransaction(pg.pool, async (c) => {
        pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        // the server ends this backend (as a fast shutdown does: 57P01) while no query runs on it
        await pg.pool.query('SELECT pg_terminate_backend($1)', [pid]);
        // the marker: the server no longer lists the backend (it has exited)
        await waitFor(
          'the backend gone',
          async () => (await pg.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0,
          10_000,
          20,
        );
        await c.query('SELECT 1');
      });
      await expect(attempt).rejects.toThrow();
      expect(unhandled).toEqual([]);
      // the broken client was not returned: every later connection is a live, different backend
      const pids = await Promise.all(
        Array.from({ length: 3 }, () => pg.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')),
      );
      expect(pids.map((r) => r.rows[0]!.pid)).not.toContain(pid);
      // and the same holds for the migration runner's checked-out client
      await expect(migrate(pg.pool)).resolves.toBeDefined();
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
