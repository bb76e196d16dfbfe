import type { FastifyInstance, FastifyReply } from 'fastify';
import type pg from 'pg';

/**
 * Live worklists over Server-Sent Events (HTML Living Standard, section 9.2). Every change to an
 * episode, on any hub instance, reaches PostgreSQL's NOTIFY vigil_worklist (migration 140); this
 * hub holds one LISTEN connection and tells each open page "something changed". The event carries
 * nothing: the page then asks the API for the rows it may see.
 */
export class WorklistEvents {
  private readonly clients = new Set<FastifyReply>();
  private listener: pg.PoolClient | undefined;
  private starting: Promise<void> | undefined;
  /** hands the LISTEN connection back to the pool, once */
  private releaseListener: ((e?: Error) => void) | undefined;
  private pending: NodeJS.Timeout | undefined;
  private readonly keepAlive: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: FastifyInstance['log'],
  ) {
    // proxies close silent connections; a comment line every 20 s keeps the stream open
    this.keepAlive = setInterval(() => this.send(': keep-alive\n\n'), 20_000);
    this.keepAlive.unref();
  }

  async subscribe(reply: FastifyReply): Promise<void> {
    await this.listen();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    reply.raw.write('retry: 3000\n\n');
    this.clients.add(reply);
    reply.raw.on('close', () => this.clients.delete(reply));
  }

  private send(chunk: string): void {
    for (const c of this.clients) c.raw.write(chunk);
  }

  private listen(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.starting ??= (async () => {
      const client = await this.pool.connect();
      // released once only: after close() has handed it back, a late error (the database going
      // away) must not release it a second time, which pg-pool throws on, uncaught
      let released = false;
      const release = (e?: Error) => {
        if (released) return;
        released = true;
        client.release(e);
      };
      this.releaseListener = release;
      client.on('notification', () => {
        // a burst of changes (one reading, several rules) becomes one refresh
        this.pending ??= setTimeout(() => {
          this.pending = undefined;
          this.send('event: worklist\ndata: {}\n\n');
        }, 200);
      });
      client.on('error', (e) => {
        this.log.warn(
          { code: 'WORKLIST_LISTEN_LOST', err: e.message },
          'worklist LISTEN connection lost; reconnecting',
        );
        const ours = this.listener === client;
        release(e);
        if (!ours || this.closed) return;
        this.listener = undefined;
        this.starting = undefined;
        // the pages refresh on reconnection; a fresh LISTEN is made by the next subscriber or now
        setTimeout(() => void this.listen().catch(() => undefined), 1000).unref();
      });
      await client.query('LISTEN vigil_worklist');
      this.listener = client;
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.keepAlive);
    if (this.pending) clearTimeout(this.pending);
    for (const c of this.clients) c.raw.end();
    this.clients.clear();
    const l = this.listener;
    this.listener = undefined;
    if (l) {
      await l.query('UNLISTEN *').catch(() => undefined);
      this.releaseListener?.();
    }
  }
}
