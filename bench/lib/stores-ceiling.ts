import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Reading } from '../../contract';
import { fileInLedger, SHARD_DURATIONS } from '../../hub';
import { influxQuery } from './env';
import { writeLines } from './line-protocol';

/**
 * The ceiling of any hub that keeps a PostgreSQL ledger row per reading (docs/ingest.md "Exactly
 * once") on the machine it shares with its stores: the same readings written to both stores and
 * nothing else (no MQTT, validation, mapping, rules nor receipts). Each chunk goes to the ledger
 * with the hub's own statement (fileInLedger, rows added already stored, as a rule shard adds
 * them) and to InfluxDB as line protocol, the two at once; `concurrency` chunks in flight.
 *
 * Each configuration gets a fresh ledger table of the hub's definition (indexes, and the foreign
 * key to the scratch database's patients) in a schema of its own, found first on the search path
 * so the hub's statement fills it, and a fresh InfluxDB database.
 *
 * VIGIL_BENCH_STORES_LEDGER=key-only measures a ledger reduced to its primary key (no secondary
 * index, no foreign key): what a design deduplicating in PostgreSQL and reading history elsewhere
 * could reach.
 */
/** a rule shard's statement is about 2 000 rows; 10 000 was the fastest (20 000 and 50 000 slower) */
export const STORES_CHUNK_SIZES = [2000, 10_000, 20_000];
export const STORES_CONCURRENCY = [1, 2, 4];

/** the ledger table the sweep writes: the hub's own definition, or its primary key alone */
export function storesLedger(): 'hub' | 'key-only' {
  return process.env.VIGIL_BENCH_STORES_LEDGER === 'key-only' ? 'key-only' : 'hub';
}

export interface StoresRun {
  chunk: number;
  concurrency: number;
  readingsPerSecond: number | null;
  error?: string;
}

export async function sweepBothStores(
  pgUrl: string,
  influxDb: string,
  entries: readonly { reading: Reading; patientId: string }[],
  /** the entries' points as line protocol, in the same order, built before the clock runs (as the raw sweep's) */
  lines: readonly string[],
): Promise<StoresRun[]> {
  if (lines.length !== entries.length) throw new Error('STORES_SWEEP_MISMATCH: one line per entry');
  const keyOnly = storesLedger() === 'key-only';
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const runs: StoresRun[] = [];
  try {
    for (const chunk of STORES_CHUNK_SIZES)
      for (const concurrency of STORES_CONCURRENCY) {
        const name = `stores_${chunk}_${concurrency}`;
        const db = `${influxDb}_${name}`;
        await admin.query(`CREATE SCHEMA ${name}`);
        if (keyOnly) {
          await admin.query(`CREATE TABLE ${name}.reading_ledger (LIKE public.reading_ledger INCLUDING DEFAULTS)`);
          await admin.query(`ALTER TABLE ${name}.reading_ledger ADD PRIMARY KEY (reading_id)`);
        } else {
          await admin.query(`CREATE TABLE ${name}.reading_ledger (LIKE public.reading_ledger INCLUDING ALL)`);
          await admin.query(
            `ALTER TABLE ${name}.reading_ledger ADD FOREIGN KEY (patient_id) REFERENCES public.patients(id)`,
          );
        }
        await influxQuery(`CREATE DATABASE "${db}" WITH SHARD DURATION ${SHARD_DURATIONS.raw}`);
        const pool = new pg.Pool({
          connectionString: pgUrl,
          max: concurrency,
          options: `-c search_path=${name},public`,
        });
        try {
          let next = 0;
          const t = performance.now();
          await Promise.all(
            Array.from({ length: concurrency }, async () => {
              while (next < entries.length) {
                const from = next;
                next += chunk;
                await Promise.all([
                  fileInLedger(pool, entries.slice(from, next), undefined, { stored: true }),
                  writeLines(db, lines.slice(from, next)),
                ]);
              }
            }),
          );
          const s = (performance.now() - t) / 1000;
          const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM reading_ledger');
          if (rows[0]?.n !== entries.length)
            throw new Error(`STORES_SWEEP_INCOMPLETE: ${rows[0]?.n} ledger rows for ${entries.length} readings`);
          runs.push({ chunk, concurrency, readingsPerSecond: Math.round(entries.length / s) });
        } catch (e) {
          runs.push({ chunk, concurrency, readingsPerSecond: null, error: (e as Error).message.slice(0, 120) });
        } finally {
          await pool.end();
          await admin.query(`DROP SCHEMA ${name} CASCADE`);
          await influxQuery(`DROP DATABASE "${db}"`);
        }
      }
  } finally {
    await admin.end();
  }
  return runs;
}
