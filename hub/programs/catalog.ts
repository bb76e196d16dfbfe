import type { Logger } from 'pino';
import type pg from 'pg';
import type { ProgramDefinition } from './definition';
import { PROGRAM_CHANNEL } from './store';

export interface CurrentProgram {
  version: number;
  retired: boolean;
  definition: ProgramDefinition;
}

/**
 * The current version of every program, as the rules engine, the patient space and the
 * questionnaires read them. While listen() holds its LISTEN connection the map is cached and
 * dropped on each NOTIFY (any hub's change); without it (connection lost, tools, replay) every
 * read goes to PostgreSQL, so a change is never missed.
 */
export class ProgramCatalog {
  private cached: Promise<ReadonlyMap<string, CurrentProgram>> | undefined;
  private listener: pg.PoolClient | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private log: Pick<Logger, 'warn'> | undefined;

  constructor(private readonly pool: pg.Pool) {}

  current(): Promise<ReadonlyMap<string, CurrentProgram>> {
    if (!this.listener) return this.load();
    this.cached ??= this.load().catch((e: unknown) => {
      this.cached = undefined;
      throw e;
    });
    return this.cached;
  }

  async get(programId: string): Promise<CurrentProgram | undefined> {
    return (await this.current()).get(programId);
  }

  /** Drops the cache (a change committed by this hub; others come by NOTIFY). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async load(): Promise<ReadonlyMap<string, CurrentProgram>> {
    const { rows } = await this.pool.query<{
      id: string;
      version: number;
      retired: boolean;
      definition: ProgramDefinition;
    }>(
      `SELECT p.id, v.version, p.retired_at IS NOT NULL AS retired, v.definition
       FROM programs p JOIN program_versions v ON v.program_id = p.id AND v.version = p.current_version`,
    );
    return new Map(rows.map((r) => [r.id, { version: r.version, retired: r.retired, definition: r.definition }]));
  }

  /** Holds a LISTEN connection; reconnects after a loss (reads go to PostgreSQL meanwhile). */
  async listen(log?: Pick<Logger, 'warn'>): Promise<void> {
    if (log) this.log = log;
    if (this.listener) return;
    this.closed = false;
    const client = await this.pool.connect();
    const lost = (e: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.cached = undefined;
      client.release(e);
      this.reconnect(e);
    };
    client.on('error', lost);
    client.on('notification', (n) => {
      if (n.channel === PROGRAM_CHANNEL) this.cached = undefined;
    });
    try {
      await client.query(`LISTEN ${PROGRAM_CHANNEL}`);
    } catch (e) {
      client.release(e as Error);
      throw e;
    }
    this.cached = undefined;
    this.listener = client;
  }

  private reconnect(e: Error): void {
    if (this.closed) return;
    this.log?.warn({ code: 'PROGRAM_LISTEN_LOST', err: e.message }, 'program LISTEN connection lost; reconnecting');
    this.retry = setTimeout(() => {
      this.listen().catch((err: unknown) => {
        this.reconnect(err instanceof Error ? err : new Error(String(err)));
      });
    }, 2000);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const l = this.listener;
    this.listener = undefined;
    this.cached = undefined;
    if (!l) return;
    await l.query(`UNLISTEN ${PROGRAM_CHANNEL}`).catch(() => undefined);
    l.release();
  }
}
