/**
 * Planner statistics of growing tables (hub/storage/postgres/growing-table-statistics.ts) on a real
 * PostgreSQL: the hub's mark-stored statement, planned while the reading ledger was empty, keeps
 * scanning the whole ledger once it has grown, until the hub analyzes it; a rule shard's
 * transaction runs its statements on their generic plans, made again after each analyze; a table is analyzed when it has doubled, not
 * for updates nor below the floor; one hub at a time does it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, dropDatabase, ensureDatabase } from '../../hub/storage/postgres/database';
import { analyzeGrownTables, startGrowingTableStatistics } from '../../hub/storage/postgres/growing-table-statistics';
import { createPatient } from '../../hub/admin/provisioning';
import { EpisodeStore } from '../../hub/alerts/episode-store';
import { markStored } from '../../hub/ingest/ledger';
import { inSharedTransaction } from '../../hub/storage/postgres/transaction-scope';
import { createTestPostgres, TEST_PG_BASE, uniqueName } from '../support/stores';
import { waitFor } from '../support/wait';

const url = `${TEST_PG_BASE}/${uniqueName('vigil_growing_stats')}`;
let pool: pg.Pool;
const quiet = { warn: () => undefined, debug: () => undefined };

/** a table autovacuum never analyzes, so only the code under test does */
async function createLedger(name: string): Promise<void> {
  await pool.query(
    `CREATE TABLE ${name} (id text PRIMARY KEY, measured_at timestamptz NOT NULL, n int NOT NULL DEFAULT 0)
       WITH (autovacuum_enabled = false)`,
  );
}

/** Inserts `count` rows, then waits until the statistics collector counts them. */
async function grow(name: string, from: number, count: number): Promise<void> {
  await withOwnClient(url, async (c) => {
    await c.query(
      `INSERT INTO ${name} (id, measured_at)
       SELECT 'r' || g, now() - g * interval '1 second' FROM generate_series($1::int, $2::int) g`,
      [from, from + count - 1],
    );
    // PostgreSQL 15: a backend's table counters reach pg_stat_user_tables when it flushes them
    await c.query('SELECT pg_stat_force_next_flush()');
  });
  await waitFor(
    `${name} counted ${from + count - 1} rows`,
    async () => (await liveRows(name)) >= from + count - 1,
    15_000,
  );
}

async function withOwnClient<T>(at: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: at });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function liveRows(name: string, on: pg.Pool = pool): Promise<number> {
  const { rows } = await on.query<{ n: string }>('SELECT n_live_tup AS n FROM pg_stat_user_tables WHERE relname = $1', [
    name,
  ]);
  return Number(rows[0]?.n ?? 0);
}

async function analyzeCount(name: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT analyze_count AS n FROM pg_stat_user_tables WHERE relname = $1',
    [name],
  );
  return Number(rows[0]?.n ?? 0);
}

interface PlanNode {
  'Node Type': string;
  Plans?: PlanNode[];
}

/** the node types of a plan, depth first */
function nodeTypes(plan: PlanNode): string[] {
  return [plan['Node Type'], ...(plan.Plans ?? []).flatMap(nodeTypes)];
}

beforeAll(async () => {
  await ensureDatabase(url);
  pool = createPool(url, 3);
});

afterAll(async () => {
  await pool.end();
  await dropDatabase(url);
});

describe('planner statistics of growing tables', () => {
  it('a plan cached while the ledger was empty scans it whole until it is analyzed', async () => {
    const db = await createTestPostgres('vigil_growing_ledger');
    // one connection, as an ingest shard holds one: prepared plans are per connection
    const shard = createPool(db.url, 1);
    try {
      await db.pool.query('ALTER TABLE reading_ledger SET (autovacuum_enabled = false)');
      await createPatient(db.pool, { id: 'P-GROW-1', programId: 'heart_failure', displayName: 'Patient' });
      // a group's dozen readings: more ids than the generic plan's guess of ten, so after five
      // executions PostgreSQL keeps the generic plan, and for a table thought empty that is a scan
      const ids = Array.from({ length: 12 }, (_, i) => `r${i + 1}`);
      for (let i = 0; i < 6; i++) await markStored(shard, ids);
      const planNow = async () => {
        const { rows } = await shard.query<{ name: string }>(
          "SELECT name FROM pg_prepared_statements WHERE statement LIKE 'UPDATE reading_ledger SET stored_at%'",
        );
        // EXPLAIN takes no parameters: the ids are the test's own literals
        const plan = await shard.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
          `EXPLAIN (FORMAT JSON) EXECUTE ${rows[0]!.name}('{${ids.join(',')}}')`,
        );
        return nodeTypes(plan.rows[0]!['QUERY PLAN'][0]!.Plan);
      };
      await withOwnClient(db.url, (c) =>
        c.query(
          `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at)
           SELECT 'g' || g, 'P-GROW-1', 'gw-1', 'AA:BB:CC:DD:EE:FF', 'bls', 'systolic', 120, 'mmHg',
                  now() - g * interval '1 minute'
             FROM generate_series(1, 50000) g`,
        ),
      );
      // the generic plan made for an empty ledger is kept: every group's update reads 50 000 rows
      expect(await planNow()).toContain('Seq Scan');

      await waitFor('the ledger counted', async () => (await liveRows('reading_ledger', db.pool)) >= 50_000, 15_000);
      expect(await analyzeGrownTables(db.pool)).toEqual(['public.reading_ledger']);
      // ANALYZE invalidated the cached plan: the statement is planned again, on the real size
      const after = await planNow();
      expect(after).not.toContain('Seq Scan');
      expect(after.some((t) => t.startsWith('Index'))).toBe(true);
    } finally {
      await shard.end();
      await db.drop();
    }
  });

  it("a rule shard's transaction runs the breach statement on one generic plan", async () => {
    const db = await createTestPostgres('vigil_generic_breach');
    const shard = createPool(db.url, 1);
    try {
      await createPatient(db.pool, { id: 'P-GEN-1', programId: 'heart_failure', displayName: 'Patient' });
      const episodes = new EpisodeStore(shard);
      const raise = (i: number) =>
        episodes.raise(
          {
            patientId: 'P-GEN-1',
            ruleId: 'bp-home-mean',
            severity: 'amber',
            readingIds: [`g${i}`],
            value: { n: 1 },
            summary: `breach ${i}`,
            evalKey: `e${i}`,
          },
          new Date(Date.UTC(2026, 0, 1, 8, i)),
        );
      for (let i = 0; i < 10; i++) await inSharedTransaction(shard, () => raise(i));
      // statistics invalidate the plan: left to choose, PostgreSQL plans the statement anew for
      // five executions, then for as long as its custom plans look cheaper (with the ingest
      // bench's statistics: at every one of its thousands of executions)
      await db.pool.query('ANALYZE');
      for (let i = 10; i < 20; i++) await inSharedTransaction(shard, () => raise(i));
      const { rows } = await shard.query<{ generic: string; custom: string; mode: string }>(
        `SELECT generic_plans AS generic, custom_plans AS custom, current_setting('plan_cache_mode') AS mode
           FROM pg_prepared_statements WHERE statement LIKE 'WITH prior AS%'`,
      );
      expect(rows).toEqual([{ generic: '20', custom: '0', mode: 'auto' }]);
      const counted = await db.pool.query<{ n: number }>('SELECT breach_count AS n FROM alert_episodes');
      expect(counted.rows).toEqual([{ n: 20 }]);
    } finally {
      await shard.end();
      await db.drop();
    }
  });

  it('analyzes a table each time it doubles, not for updates nor below the floor', async () => {
    await createLedger('ledger_doubling');
    await createLedger('ledger_small');
    await grow('ledger_small', 1, 200);
    await grow('ledger_doubling', 1, 3_000);
    expect(await analyzeGrownTables(pool, 1_000)).toEqual(['public.ledger_doubling']);
    expect(await analyzeCount('ledger_doubling')).toBe(1);

    // grown by half, and every row updated twice: the planner's picture of its size still holds
    await grow('ledger_doubling', 3_001, 1_500);
    await withOwnClient(url, async (c) => {
      await c.query('UPDATE ledger_doubling SET n = n + 1');
      await c.query('UPDATE ledger_doubling SET n = n + 1');
      await c.query('SELECT pg_stat_force_next_flush()');
    });
    expect(await analyzeGrownTables(pool, 1_000)).toEqual([]);

    await grow('ledger_doubling', 4_501, 1_500);
    expect(await analyzeGrownTables(pool, 1_000)).toEqual(['public.ledger_doubling']);
    expect(await analyzeCount('ledger_doubling')).toBe(2);
    expect(await analyzeCount('ledger_small')).toBe(0);
  });

  it('skips the round while another hub holds it', async () => {
    await createLedger('ledger_shared');
    await grow('ledger_shared', 1, 2_000);
    await withOwnClient(url, async (other) => {
      await other.query("SELECT pg_advisory_lock(hashtext('vigil-growing-table-statistics'))");
      expect(await analyzeGrownTables(pool)).toBeNull();
    });
    expect(await analyzeGrownTables(pool)).toEqual(['public.ledger_shared']);
  });

  it('runs on its own until stopped', async () => {
    await createLedger('ledger_timer');
    const stop = startGrowingTableStatistics(pool, quiet, { everyMs: 50 });
    try {
      await grow('ledger_timer', 1, 4_000);
      await waitFor(
        'the timer analyzed ledger_timer',
        async () => (await analyzeCount('ledger_timer')) === 1,
        10_000,
        20,
      );
    } finally {
      await stop();
    }
    await grow('ledger_timer', 4_001, 8_000);
    // stopped: the table tripled, and nothing analyzed it again
    expect(await analyzeCount('ledger_timer')).toBe(1);
  });
});
