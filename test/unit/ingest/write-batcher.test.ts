import { describe, expect, it } from 'vitest';
import { TimeSeriesWriteError, WriteBatcher, type BatcherOptions } from '../../../hub/storage/influx/write-batcher';
import { GatewayRateLimiter } from '../../../hub/broker/rate-limit';
import { waitFor } from '../../support/wait';

const opts = (o: Partial<BatcherOptions> = {}): BatcherOptions => ({
  maxPoints: 100,
  flushIntervalMs: 20,
  initialDelayMs: 5,
  maxDelayMs: 40,
  giveUpAfterMs: 60_000,
  ...o,
});

/** An InfluxDB stand-in that records each write and can be told to fail. */
function sink() {
  const writes: number[][] = [];
  let failures: (() => Error) | undefined;
  return {
    writes,
    failWith(f: (() => Error) | undefined) {
      failures = f;
    },
    write: (points: number[]) => {
      if (failures) return Promise.reject(failures());
      writes.push(points);
      return Promise.resolve();
    },
  };
}

describe('WriteBatcher', () => {
  it('merges writes that arrive within the flush interval into one batch', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts());
    await Promise.all([b.write([1, 2]), b.write([3]), b.write([4, 5, 6])]);
    expect(s.writes).toEqual([[1, 2, 3, 4, 5, 6]]);
  });

  it('with no flush interval, writes handed in one after the other go out at once as one request', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts({ flushIntervalMs: 0 }));
    const first = b.write([1]);
    const second = b.write([2, 3]);
    // nothing waits for a timer: the request is made before any timer could fire
    await Promise.resolve();
    expect(s.writes).toEqual([[1, 2, 3]]);
    await Promise.all([first, second]);
  });

  it('flushes as soon as the buffer holds maxPoints, without waiting for the interval', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts({ maxPoints: 4, flushIntervalMs: 60_000 }));
    const t0 = Date.now();
    await Promise.all([b.write([1, 2]), b.write([3, 4])]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(s.writes).toEqual([[1, 2, 3, 4]]);
  });

  it('never splits one caller across batches and caps a batch at maxPoints', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts({ maxPoints: 3 }));
    await Promise.all([b.write([1, 2]), b.write([3, 4]), b.write([5, 6, 7, 8])]);
    expect(s.writes).toEqual([
      [1, 2],
      [3, 4],
      [5, 6, 7, 8],
    ]);
  });

  it('retries a transient failure with growing delays and resolves only once written', async () => {
    const s = sink();
    const retries: number[] = [];
    const b = new WriteBatcher(s.write, opts({ initialDelayMs: 10, maxDelayMs: 80 }), {
      onRetry: (_a, d) => retries.push(d),
    });
    s.failWith(() => new Error('connect ECONNREFUSED'));
    let done = false;
    const p = b.write([1]).then(() => (done = true));
    // three failed attempts, and the write is still pending
    await waitFor('three retries', () => retries.length >= 3, 5_000, 5);
    expect(done).toBe(false);
    expect(s.writes).toEqual([]);
    s.failWith(undefined);
    await p;
    expect(s.writes).toEqual([[1]]);
    expect(retries.length).toBeGreaterThanOrEqual(3);
    // exponential with jitter: each delay lies in [cap/2, cap], cap = min(80, 10 * 2^n)
    retries.forEach((d, n) => {
      const cap = Math.min(80, 10 * 2 ** n);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    });
  });

  it('does not retry a write InfluxDB refused (4xx) and reports INFLUX_REJECTED', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts());
    let attempts = 0;
    s.failWith(() => {
      attempts++;
      return Object.assign(new Error('field type conflict'), { res: { statusCode: 400 } });
    });
    await expect(b.write([1])).rejects.toMatchObject({ code: 'INFLUX_REJECTED' });
    expect(attempts).toBe(1);
  });

  it('a refused write of several callers: each is written on its own, only the refused one fails', async () => {
    const writes: number[][] = [];
    // InfluxDB refusing any write that holds the point 13 (a field type conflict of one caller)
    const b = new WriteBatcher((points: number[]) => {
      writes.push(points);
      return points.includes(13)
        ? Promise.reject(Object.assign(new Error('field type conflict'), { res: { statusCode: 400 } }))
        : Promise.resolve();
    }, opts());
    const results = await Promise.allSettled([b.write([1, 2]), b.write([13]), b.write([3])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[1]).toMatchObject({ reason: { code: 'INFLUX_REJECTED' } });
    expect(writes).toEqual([[1, 2, 13, 3], [1, 2], [13], [3]]);
  });

  it('gives up after giveUpAfterMs with INFLUX_UNAVAILABLE (the caller holds its message)', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts({ giveUpAfterMs: 100 }));
    s.failWith(() => new Error('socket hang up'));
    const e = await b.write([1]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeSeriesWriteError);
    expect((e as TimeSeriesWriteError).code).toBe('INFLUX_UNAVAILABLE');
  });

  it('close() flushes what is buffered and refuses later writes', async () => {
    const s = sink();
    const b = new WriteBatcher(s.write, opts({ flushIntervalMs: 60_000 }));
    const p = b.write([1, 2]);
    await b.close();
    await p;
    expect(s.writes).toEqual([[1, 2]]);
    await expect(b.write([3])).rejects.toMatchObject({ code: 'INFLUX_WRITER_CLOSED' });
  });
});

describe('GatewayRateLimiter', () => {
  it('lets a burst through, then spaces publishes at the sustained rate, per gateway', () => {
    let now = 0;
    const l = new GatewayRateLimiter({ messagesPerSecond: 10, burst: 3 }, () => now);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBeCloseTo(100);
    expect(l.take('a')).toBeCloseTo(200);
    expect(l.take('b')).toBe(0);
    now = 1000;
    // debt of 2 repaid, 8 tokens refilled but capped at the burst
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBeCloseTo(100);
  });
});
