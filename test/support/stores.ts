import { randomBytes } from 'node:crypto';
import { InfluxDB } from 'influx';
import type pg from 'pg';
import { createPool, dropDatabase, ensureDatabase } from '../../hub/storage/postgres/database';
import { migrate } from '../../hub/storage/postgres/migrate';

/** PostgreSQL server used by the tests (the machine's cluster, trust auth). */
export const TEST_PG_BASE = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
/** InfluxDB started by test/support/global-setup.ts */
export const testInfluxUrl = (): string => process.env.VIGIL_TEST_INFLUX_URL ?? 'http://127.0.0.1:18086';

export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export interface TestPostgres {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database with the migrations applied; drop() removes it. */
export async function createTestPostgres(prefix = 'vigil_test'): Promise<TestPostgres> {
  const url = `${TEST_PG_BASE}/${uniqueName(prefix)}`;
  await ensureDatabase(url);
  const pool = createPool(url, 5);
  await migrate(pool);
  return {
    url,
    pool,
    drop: async () => {
      await pool.end();
      await dropDatabase(url);
    },
  };
}

/** A fresh InfluxDB database name on the test influxd; drop() removes it. */
export async function createTestInflux(
  prefix = 'vigil_test',
): Promise<{ url: string; database: string; drop(): Promise<void> }> {
  const database = uniqueName(prefix);
  const url = testInfluxUrl();
  const u = new URL(url);
  const client = new InfluxDB({ host: u.hostname, port: Number(u.port) });
  await client.createDatabase(database);
  return { url, database, drop: () => client.dropDatabase(database) };
}
