/**
 * Backup and restore of the hub's two stores with their own tools (Debian packages
 * postgresql-client and influxdb):
 *   PostgreSQL: pg_dump --format=custom, restored by pg_restore in one transaction;
 *   InfluxDB 1.x: `influxd backup -portable` over the RPC port (bind-address, 8088 by default),
 *   restored by `influxd restore -portable -newdb`.
 * A backup is a directory: postgres.dump, influx/, backup.json (what, when, from which databases).
 * A restore goes into empty stores only (a fresh server or new database names), never over data.
 * Roles are cluster-wide and not in pg_dump: recreate them first (pg_dumpall --roles-only).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import type { HubConfig } from '../config/schema';

const run = promisify(execFile);

export class BackupError extends Error {
  readonly code: 'BACKUP_FAILED' | 'RESTORE_FAILED' | 'RESTORE_TARGET_NOT_EMPTY' | 'BACKUP_INVALID';
  constructor(code: BackupError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const backupManifestSchema = z.object({
  format: z.literal('vigil-backup/1'),
  createdAt: z.iso.datetime(),
  postgres: z.object({ database: z.string(), file: z.literal('postgres.dump'), migrations: z.array(z.number()) }),
  influx: z.object({ database: z.string(), dir: z.literal('influx') }),
});
export type BackupManifest = z.infer<typeof backupManifestSchema>;

/** host:port of influxd's RPC service (backup/restore): `rpc` or the HTTP host on port 8088 */
export const influxRpcAddress = (config: HubConfig, rpc?: string): string =>
  rpc ?? `${new URL(config.influx.url).hostname}:8088`;

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

/** the stderr of a failed tool, for the error message (no data in it: tool diagnostics only) */
const toolError = (e: unknown): string => {
  const err = e as { stderr?: string; message: string };
  return (err.stderr?.trim() || err.message).split('\n').slice(-3).join(' ');
};

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function influxQuery(
  config: HubConfig,
  q: string,
): Promise<{ results: { series?: { values?: unknown[][] }[] }[] }> {
  const url = new URL('/query', config.influx.url);
  url.searchParams.set('q', q);
  const headers: Record<string, string> = {};
  if (config.influx.username)
    headers.authorization = `Basic ${Buffer.from(`${config.influx.username}:${config.influx.password ?? ''}`).toString('base64')}`;
  const res = await fetch(url, { method: 'POST', headers });
  if (!res.ok) throw new Error(`InfluxDB answered ${res.status} to ${q}`);
  return (await res.json()) as { results: { series?: { values?: unknown[][] }[] }[] };
}

export async function backupStores(
  config: HubConfig,
  dir: string,
  opts: { influxRpc?: string } = {},
): Promise<BackupManifest> {
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new BackupError('BACKUP_FAILED', `${dir} is not empty; a backup goes into a new directory`);
  mkdirSync(join(dir, 'influx'), { recursive: true, mode: 0o700 });
  const migrations = await withClient(config.postgres.url, async (c) =>
    (await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map(
      (r) => r.version,
    ),
  );
  try {
    await run('pg_dump', [
      '--format=custom',
      `--file=${join(dir, 'postgres.dump')}`,
      `--dbname=${config.postgres.url}`,
    ]);
  } catch (e) {
    throw new BackupError('BACKUP_FAILED', `pg_dump: ${toolError(e)}`);
  }
  try {
    await run('influxd', [
      'backup',
      '-portable',
      '-db',
      config.influx.database,
      '-host',
      influxRpcAddress(config, opts.influxRpc),
      join(dir, 'influx'),
    ]);
  } catch (e) {
    throw new BackupError('BACKUP_FAILED', `influxd backup: ${toolError(e)}`);
  }
  const manifest: BackupManifest = {
    format: 'vigil-backup/1',
    createdAt: new Date().toISOString(),
    postgres: { database: databaseName(config.postgres.url), file: 'postgres.dump', migrations },
    influx: { database: config.influx.database, dir: 'influx' },
  };
  writeFileSync(join(dir, 'backup.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return manifest;
}

export async function restoreStores(
  config: HubConfig,
  dir: string,
  opts: { influxRpc?: string } = {},
): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = backupManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'backup.json'), 'utf8')));
  } catch (e) {
    throw new BackupError('BACKUP_INVALID', `${dir}: no readable backup.json (${(e as Error).message.split('\n')[0]})`);
  }
  // empty targets only: a restore never mixes with or overwrites records
  if (config.postgres.createDatabase) {
    const { ensureDatabase } = await import('../storage/postgres/database');
    await ensureDatabase(config.postgres.url);
  }
  const tables = await withClient(config.postgres.url, async (c) =>
    Number(
      (await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")).rows[0]?.n,
    ),
  );
  if (tables > 0)
    throw new BackupError(
      'RESTORE_TARGET_NOT_EMPTY',
      `PostgreSQL database ${databaseName(config.postgres.url)} has tables`,
    );
  const influxDatabases = (await influxQuery(config, 'SHOW DATABASES')).results[0]?.series?.[0]?.values?.flat() ?? [];
  if (influxDatabases.includes(config.influx.database))
    throw new BackupError('RESTORE_TARGET_NOT_EMPTY', `InfluxDB database ${config.influx.database} exists`);

  try {
    await run('pg_restore', [
      '--no-owner',
      '--exit-on-error',
      '--single-transaction',
      `--dbname=${config.postgres.url}`,
      join(dir, manifest.postgres.file),
    ]);
  } catch (e) {
    throw new BackupError('RESTORE_FAILED', `pg_restore: ${toolError(e)}`);
  }
  try {
    await run('influxd', [
      'restore',
      '-portable',
      '-db',
      manifest.influx.database,
      '-newdb',
      config.influx.database,
      '-host',
      influxRpcAddress(config, opts.influxRpc),
      join(dir, manifest.influx.dir),
    ]);
  } catch (e) {
    throw new BackupError('RESTORE_FAILED', `influxd restore: ${toolError(e)}`);
  }
  return manifest;
}
