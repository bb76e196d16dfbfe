import type pg from 'pg';
import { errorMessage } from '../../../contract/errors';
import { inClientTransaction, withClient } from './database';

/**
 * Planner statistics for tables that outgrow them faster than autovacuum looks.
 *
 * The hub runs its hot statements as named prepared statements (named.ts). PostgreSQL plans such a
 * statement for its parameters five times, then may keep one generic plan for the connection
 * until the statement is invalidated, e.g. when a table it reads is analyzed (PostgreSQL 15 docs,
 * PREPARE, "Notes": generic and custom plans). A table never analyzed is planned at its current
 * size, ten pages at least, so generic plans made while the ledger was nearly empty read it by a
 * sequential scan (rule shards run theirs generic: transaction-scope.ts). A hub filing thousands
 * of readings a second grows the ledger to hundreds of thousands of rows before autovacuum's next
 * look (autovacuum_naptime, 60 s by default), and a connection whose plan was made early goes on
 * scanning it: under the alert bench's load a live reading's one-row mark-stored took up to 83 ms
 * and a crisis alert up to 471 ms (bench/README.md "Session 12").
 *
 * So the hub analyzes a table as soon as it has doubled since the planner last saw its size
 * (PostgreSQL docs, "Populating a Database": run ANALYZE afterwards). Each table is
 * analyzed about log2(rows / minRows) times over its whole life, and never for updates that do not
 * change its size: the steady state stays autovacuum's.
 */
export interface GrowingTableStatisticsOptions {
  /** how often the table sizes are read (pg_stat_user_tables is cheap to read) */
  everyMs?: number;
  /** a table is left alone until it has this many live rows */
  minRows?: number;
}

export const GROWING_TABLE_DEFAULTS = { everyMs: 2_000, minRows: 1_000 } as const;

/** one hub analyzes at a time; the others skip that round (multi-hub mode shares one database) */
const LOCK = "hashtext('vigil-growing-table-statistics')";

/**
 * Analyzes every table of the database that this role owns (may analyze) and that has at least
 * `minRows` live rows and twice as many as its last statistics counted. Returns the tables
 * analyzed, or null when another hub holds the round.
 */
export async function analyzeGrownTables(
  pool: pg.Pool,
  minRows: number = GROWING_TABLE_DEFAULTS.minRows,
): Promise<string[] | null> {
  return withClient(pool, async (client, markBroken) => {
    // reltuples is -1 for a table never vacuumed nor analyzed (PostgreSQL 14+ pg_class)
    const { rows } = await client.query<{ qualified: string }>(
      `SELECT format('%I.%I', s.schemaname, s.relname) AS qualified
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE c.relkind = 'r' AND pg_has_role(c.relowner, 'USAGE')
          AND s.n_live_tup >= $1 AND s.n_live_tup >= 2 * greatest(c.reltuples, 0)
        ORDER BY s.n_live_tup DESC`,
      [minRows],
    );
    if (rows.length === 0) return [];
    return inClientTransaction(client, markBroken, async () => {
      const { rows: lock } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${LOCK}) AS ok`);
      if (!lock[0]?.ok) return null;
      // the names come from the catalog, quoted by format('%I'): identifiers cannot be bound
      for (const t of rows) await client.query(`ANALYZE ${t.qualified}`);
      return rows.map((t) => t.qualified);
    });
  });
}

/**
 * Runs analyzeGrownTables every `everyMs` until the returned function is called (it waits for a
 * round in progress). Failures are logged with a stable code and the next round tries again.
 */
export function startGrowingTableStatistics(
  pool: pg.Pool,
  log: { warn(o: object, msg: string): void; debug(o: object, msg: string): void },
  opts: GrowingTableStatisticsOptions = {},
): () => Promise<void> {
  const { everyMs, minRows } = { ...GROWING_TABLE_DEFAULTS, ...opts };
  let running: Promise<void> | undefined;
  const round = () => {
    if (running) return; // a slow ANALYZE: the next tick does not queue behind it
    running = analyzeGrownTables(pool, minRows)
      .then(
        (tables) => {
          if (tables?.length) log.debug({ tables }, 'statistics of grown tables refreshed');
        },
        (e: unknown) =>
          log.warn(
            { code: 'TABLE_STATISTICS_FAILED', err: errorMessage(e).slice(0, 200) },
            'planner statistics of grown tables not refreshed',
          ),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(round, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
