import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Batched writes with retries (docs/ingest.md "Batched writes"): callers hand in points and wait
 * until their points are durably written. The buffer is flushed when it holds `maxPoints` points or
 * `flushIntervalMs` after its first point (0: as soon as the current job is done), one flush at a
 * time (points arriving during a flush form the next batch). A failed flush is retried with
 * exponential backoff (equal jitter) while the error is transient; after `giveUpAfterMs` the
 * waiting callers get INFLUX_UNAVAILABLE and nothing of theirs is acknowledged upstream. A
 * rejected write (HTTP 4xx) is not retried; when it held several callers' points, each caller's
 * are written again on their own, so a refusal reaches only the callers whose points InfluxDB
 * refuses.
 */
export interface BatcherOptions {
  maxPoints: number;
  flushIntervalMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
  /** flushes in flight at once (default 1); InfluxDB takes two concurrent writes faster than one */
  concurrency?: number;
}

export class TimeSeriesWriteError extends Error {
  constructor(
    readonly code: 'INFLUX_UNAVAILABLE' | 'INFLUX_REJECTED' | 'INFLUX_WRITER_CLOSED',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

interface Pending<P> {
  points: P[];
  resolve(): void;
  reject(e: Error): void;
}

export interface BatcherEvents {
  onRetry?(attempt: number, delayMs: number, err: Error): void;
  onFlush?(points: number, ms: number): void;
}

/** Errors that will not go away by retrying: InfluxDB answered and refused the write. */
export function isRejection(e: unknown): boolean {
  const status = (e as { res?: { statusCode?: number } }).res?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export class WriteBatcher<P> {
  private queue: Pending<P>[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  private readonly flushing = new Set<Promise<void>>();
  private closed = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly sink: (points: P[]) => Promise<void>,
    private readonly opts: BatcherOptions,
    private readonly events: BatcherEvents = {},
  ) {}

  /** Resolves when every point is written; rejects with a TimeSeriesWriteError otherwise. */
  write(points: readonly P[]): Promise<void> {
    if (points.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new TimeSeriesWriteError('INFLUX_WRITER_CLOSED', 'the hub is stopping'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ points: [...points], resolve, reject });
      this.queued += points.length;
      this.schedule();
    });
  }

  /** Points waiting for a flush (not counting the flush in progress). */
  get backlog(): number {
    return this.queued;
  }

  private get busy(): boolean {
    return this.flushing.size >= (this.opts.concurrency ?? 1);
  }

  private schedule(): void {
    if (this.busy || this.queue.length === 0) return;
    if (this.queued >= this.opts.maxPoints) {
      this.startFlush();
    } else if (this.opts.flushIntervalMs === 0) {
      // no waiting, but the writes a caller hands in one after the other (a filing group's
      // gateway batches) go out as one request: the flush starts once the current job is done
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          this.startFlush();
        });
      }
    } else {
      this.timer ??= setTimeout(() => this.startFlush(), this.opts.flushIntervalMs);
    }
  }

  private startFlush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.busy || this.queue.length === 0) return;
    // take whole callers' batches up to maxPoints (at least one, even when it is larger)
    const take: Pending<P>[] = [];
    let n = 0;
    for (
      let p = this.queue[0];
      p && (take.length === 0 || n + p.points.length <= this.opts.maxPoints);
      p = this.queue[0]
    ) {
      this.queue.shift();
      take.push(p);
      n += p.points.length;
    }
    this.queued -= n;
    const flushing: Promise<void> = this.flush(take).finally(() => {
      this.flushing.delete(flushing);
      this.schedule();
    });
    this.flushing.add(flushing);
  }

  private async flush(batch: Pending<P>[]): Promise<void> {
    const points = batch.flatMap((b) => b.points);
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sink(points);
        this.events.onFlush?.(points.length, Date.now() - started);
        for (const b of batch) b.resolve();
        return;
      } catch (e) {
        const err = e as Error;
        if (isRejection(e)) {
          if (batch.length === 1) {
            for (const b of batch) b.reject(new TimeSeriesWriteError('INFLUX_REJECTED', err.message));
            return;
          }
          // several callers' points written as one: each is written on its own, so only the
          // caller whose points InfluxDB refuses is refused (the others' may be fine)
          for (const b of batch) await this.flush([b]);
          return;
        }
        const elapsed = Date.now() - started;
        if (this.closed || elapsed >= this.opts.giveUpAfterMs) {
          const code = this.closed ? 'INFLUX_WRITER_CLOSED' : 'INFLUX_UNAVAILABLE';
          for (const b of batch)
            b.reject(new TimeSeriesWriteError(code, `${err.message} (after ${attempt} attempts, ${elapsed} ms)`));
          return;
        }
        // exponential backoff with "equal jitter" (half fixed, half random), capped
        const cap = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** Math.min(attempt - 1, 20));
        const delay = Math.min(
          Math.round(cap / 2 + Math.random() * (cap / 2)),
          Math.max(0, this.opts.giveUpAfterMs - elapsed),
        );
        this.events.onRetry?.(attempt, delay, err);
        await sleep(delay, undefined, { signal: this.abort.signal }).catch((e: unknown) => {
          if (!this.abort.signal.aborted) throw e; // closing cuts the wait short: try once more now
        });
      }
    }
  }

  /** Flushes what is buffered (one attempt per batch once closing), then refuses new writes. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    while (this.flushing.size || this.queue.length) {
      if (!this.busy) this.startFlush();
      await Promise.all(this.flushing);
    }
  }
}
