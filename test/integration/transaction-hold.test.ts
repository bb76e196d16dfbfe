/**
 * A shared transaction with a hold (hub/storage/postgres/transaction-scope.ts, used by ingest so a
 * backlog's statements give way to live readings) on a real PostgreSQL: every statement of the
 * transaction, sent on its connection, routed through the pool or by a step joining it, waits
 * until the hold lets it go; without a hold nothing waits.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../hub/alerts/audit';
import { createPool, dropDatabase, ensureDatabase } from '../../hub/storage/postgres/database';
import { inSharedTransaction, shareAmbientTransaction } from '../../hub/storage/postgres/transaction-scope';
import { TEST_PG_BASE, uniqueName } from '../support/stores';
import { waitFor } from '../support/wait';

const url = `${TEST_PG_BASE}/${uniqueName('vigil_tx_hold')}`;
let pool: pg.Pool;

beforeAll(async () => {
  await ensureDatabase(url);
  pool = createPool(url, 3);
  shareAmbientTransaction(pool);
  await pool.query('CREATE TABLE held (step text PRIMARY KEY)');
});

afterAll(async () => {
  await pool.end();
  await dropDatabase(url);
});

describe('a shared transaction held back', () => {
  it('sends none of its statements while held, all of them once let go, and commits them', async () => {
    let open = false;
    let letGo!: () => void;
    const released = new Promise<void>((res) => (letGo = res));
    const sent: string[] = [];
    const filing = inSharedTransaction(
      pool,
      async ({ client }) => {
        await client.query(`INSERT INTO held VALUES ('on its connection')`);
        sent.push('connection');
        await pool.query(`INSERT INTO held VALUES ('through the pool')`);
        sent.push('pool');
        await inTransaction(pool, (c) => c.query(`INSERT INTO held VALUES ('in a joining step')`));
        sent.push('step');
      },
      { hold: () => (open ? undefined : released) },
    );
    // the transaction began (BEGIN is not held) and is idle, its first statement waiting
    await waitFor(
      'the transaction idle in its BEGIN',
      async () =>
        (
          await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`,
          )
        ).rows[0]!.n === 1,
      5_000,
    );
    expect(sent).toEqual([]);
    expect((await pool.query('SELECT step FROM held')).rowCount).toBe(0);
    open = true;
    letGo();
    await filing;
    expect(sent).toEqual(['connection', 'pool', 'step']);
    const { rows } = await pool.query<{ step: string }>('SELECT step FROM held ORDER BY step');
    expect(rows.map((r) => r.step)).toEqual(['in a joining step', 'on its connection', 'through the pool']);
  });

  it('without a hold sends its statements at once', async () => {
    await inSharedTransaction(pool, async ({ client }) => {
      await client.query(`INSERT INTO held VALUES ('unheld')`);
    });
    expect((await pool.query(`SELECT 1 FROM held WHERE step = 'unheld'`)).rowCount).toBe(1);
  });
});
