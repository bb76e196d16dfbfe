import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readingId, type Reading } from '../../../contract';
import { BufferError, ReadingBuffer } from '../../../gateway/buffer/reading-buffer';

const device = { address: 'A4:C1:38:00:00:01', driver: 'sig-blood-pressure' };
const reading = (i: number): Reading => {
  const deviceTime = new Date(Date.UTC(2026, 0, 1, 8, i)).toISOString().slice(0, 19);
  return {
    id: readingId({ device, metric: 'blood_pressure_systolic', deviceTime }),
    gatewayId: 'gw-unit-1',
    device,
    metric: 'blood_pressure_systolic',
    value: 120 + i,
    unit: 'mm[Hg]',
    measuredAt: `${deviceTime}.000Z`,
    deviceTime,
    flags: [],
  };
};

describe('ReadingBuffer (SQLite outbox)', () => {
  const dirs: string[] = [];
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-buffer-'));
    dirs.push(dir);
    return { path: join(dir, 'buffer.sqlite') };
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps each reading id once, across copies and reopenings', () => {
    const { path } = open();
    const b = new ReadingBuffer(path);
    expect(b.enqueue([reading(1), reading(2)])).toBe(2);
    expect(b.enqueue([reading(1)])).toBe(0);
    b.close();
    const again = new ReadingBuffer(path);
    expect(again.stats().depth).toBe(2);
    again.close();
  });

  it('deletes only what a receipt names, and re-offers unreceipted batches after the timeout', () => {
    const { path } = open();
    const b = new ReadingBuffer(path);
    b.enqueue([reading(1), reading(2), reading(3)]);
    const t0 = 1_000_000;
    const first = b.nextBatch(2, t0 - 30_000, t0)!;
    expect(first.readings.map((r) => r.value)).toEqual([121, 122]);
    // claimed readings are not offered again before the timeout
    expect(b.nextBatch(10, t0 - 30_000, t0 + 1)!.readings.map((r) => r.value)).toEqual([123]);
    expect(b.nextBatch(10, t0 - 30_000, t0 + 2)).toBeUndefined();
    b.applyReceipt({ v: 1, batchId: first.batchId, results: [{ id: first.readings[0]!.id, outcome: 'stored' }] });
    expect(b.stats().depth).toBe(2);
    // after the receipt timeout the unreceipted readings come back, same ids
    const retry = b.nextBatch(10, t0 + 31_000, t0 + 31_001)!;
    expect(retry.readings.map((r) => r.id).sort()).toEqual([reading(2).id, reading(3).id].sort());
    b.close();
  });

  it('doubles the receipt timeout at each re-send of the same readings, up to the cap', () => {
    const { path } = open();
    const b = new ReadingBuffer(path);
    b.enqueue([reading(1)]);
    const t = { timeoutMs: 1_000, maxTimeoutMs: 3_000 };
    expect(b.nextDueBatch(10, t, 0)).toBeDefined(); // attempt 1 at 0
    expect(b.nextDueBatch(10, t, 999)).toBeUndefined();
    expect(b.nextDueBatch(10, t, 1_001)).toBeDefined(); // attempt 2 at 1 001: next after 2 s
    expect(b.nextDueBatch(10, t, 3_000)).toBeUndefined();
    expect(b.nextDueBatch(10, t, 3_002)).toBeDefined(); // attempt 3: 4 s capped at 3 s
    expect(b.nextDueBatch(10, t, 6_001)).toBeUndefined();
    expect(b.nextDueBatch(10, t, 6_003)).toBeDefined();
    b.close();
  });

  it('never re-queues a reading the hub already receipted (repeating broadcast adverts)', () => {
    const { path } = open();
    const b = new ReadingBuffer(path);
    b.enqueue([reading(5)]);
    const batch = b.nextBatch(10, 0)!;
    expect(
      b.applyReceipt({ v: 1, batchId: batch.batchId, results: [{ id: reading(5).id, outcome: 'duplicate' }] }),
    ).toEqual([reading(5).id]);
    expect(b.enqueue([reading(5)])).toBe(0);
    expect(b.stats().depth).toBe(0);
    b.close();
  });

  it('commits a device record cursor in the same transaction as its readings, never backwards', () => {
    const { path } = open();
    const b = new ReadingBuffer(path);
    b.enqueue([reading(1)], { deviceKey: 'A4:C1:38:00:00:01/sig-glucose', value: 7 });
    b.enqueue([], { deviceKey: 'A4:C1:38:00:00:01/sig-glucose', value: 3 });
    expect(b.cursor('A4:C1:38:00:00:01/sig-glucose')).toBe(7);
    expect(b.cursor('unknown')).toBeUndefined();
    b.close();
  });

  it('raises QUEUE_NEAR_CAPACITY before anything is dropped, then drops the oldest and counts them', () => {
    const { path } = open();
    const b = new ReadingBuffer(path, { maxReadings: 10, maxAgeDays: 60, alarmRatio: 0.8 });
    b.enqueue(Array.from({ length: 7 }, (_, i) => reading(i)));
    expect(b.stats()).toMatchObject({ depth: 7, dropped: 0, alarm: null });
    b.enqueue([reading(7)]);
    expect(b.stats()).toMatchObject({ depth: 8, dropped: 0, alarm: 'QUEUE_NEAR_CAPACITY' });
    b.enqueue([reading(8), reading(9), reading(10), reading(11), reading(12)]);
    expect(b.stats()).toMatchObject({ depth: 10, dropped: 3, alarm: 'QUEUE_DROPPING' });
    // the three oldest went; the newest are kept
    expect(b.nextBatch(100, 0)!.readings.map((r) => r.value)).toEqual([
      123, 124, 125, 126, 127, 128, 129, 130, 131, 132,
    ]);
    b.close();
  });

  it('drops readings queued longer than maxAgeDays', () => {
    const { path } = open();
    const b = new ReadingBuffer(path, { maxReadings: 100, maxAgeDays: 2, alarmRatio: 0.8 });
    b.enqueue([reading(1), reading(2)]);
    expect(b.pruneAged(Date.now() + 86_400_000)).toBe(0);
    expect(b.pruneAged(Date.now() + 3 * 86_400_000)).toBe(2);
    expect(b.stats()).toMatchObject({ depth: 0, dropped: 2 });
    b.close();
  });

  it('a full disk (SQLite max_page_count) is a clear BUFFER_DISK_FULL: no corruption, no cursor moved, recovers when space returns', () => {
    const { path } = open();
    const b = new ReadingBuffer(path, { maxReadings: 1_000_000, maxAgeDays: 60, alarmRatio: 0.8, maxPages: 40 });
    const key = 'A4:C1:38:00:00:01';
    let err: unknown;
    let i = 0;
    const big = (n: number): Reading => ({
      ...reading(n % 1000),
      id: `${reading(n % 1000).id.slice(0, -6)}${String(n).padStart(6, '0')}`,
      flags: ['x'.repeat(40)],
    });
    for (; i < 5000; i++) {
      try {
        b.enqueue([big(i), big(i + 100_000)], { deviceKey: key, value: i });
      } catch (e) {
        err = e;
        break;
      }
    }
    expect(err).toBeInstanceOf(BufferError);
    expect((err as BufferError).code).toBe('BUFFER_DISK_FULL');
    // the failed call left nothing behind: cursor at the last committed record, pairs intact
    expect(b.cursor(key)).toBe(i - 1);
    expect(b.stats()).toMatchObject({ depth: 2 * i, alarm: 'BUFFER_DISK_FULL' });
    expect(b.integrityCheck()).toBe('ok');
    // receipts free space; the next write succeeds and the alarm clears
    const batch = b.nextBatch(200, 0)!;
    b.applyReceipt({
      v: 1,
      batchId: batch.batchId,
      results: batch.readings.map((r) => ({ id: r.id, outcome: 'stored' as const })),
    });
    b.enqueue([big(i), big(i + 100_000)], { deviceKey: key, value: i });
    expect(b.cursor(key)).toBe(i);
    expect(b.stats().alarm).toBeNull();
    b.close();
    const reopened = new ReadingBuffer(path);
    expect(reopened.integrityCheck()).toBe('ok');
    expect(reopened.stats().depth).toBe(2 * i + 2 - batch.readings.length);
    reopened.close();
  });
});
