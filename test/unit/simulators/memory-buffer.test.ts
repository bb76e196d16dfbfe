import { describe, expect, it } from 'vitest';
import { householdBacklog } from '../../../simulators/fleet/backlog';
import { MemoryBuffer } from '../../../simulators/fleet/memory-buffer';

const readings = householdBacklog({ prefix: 'mb', index: 1, count: 10, seed: 1 }).readings;
const timeouts = { timeoutMs: 1000, maxTimeoutMs: 4000 };

describe('MemoryBuffer (the fleet simulator outbox, same claim rule as the box SQLite outbox)', () => {
  it('hands out never-sent readings in order, each once while its receipt timeout runs', () => {
    const b = new MemoryBuffer(readings);
    const first = b.nextDueBatch(4, timeouts, 0)!;
    const second = b.nextDueBatch(4, timeouts, 0)!;
    expect(first.readings.map((r) => r.id)).toEqual(readings.slice(0, 4).map((r) => r.id));
    expect(second.readings.map((r) => r.id)).toEqual(readings.slice(4, 8).map((r) => r.id));
    expect(b.nextDueBatch(4, timeouts, 999)!.readings).toHaveLength(2);
    expect(b.nextDueBatch(4, timeouts, 999)).toBeUndefined();
    expect(b.stats()).toMatchObject({ depth: 10, inFlight: 10 });
  });

  it('offers a batch again after the timeout, doubled per attempt and capped; a PUBACK restarts it', () => {
    const b = new MemoryBuffer(readings.slice(0, 1));
    b.nextDueBatch(1, timeouts, 0);
    expect(b.nextDueBatch(1, timeouts, 1000)).toBeUndefined();
    const again = b.nextDueBatch(1, timeouts, 1001)!; // attempt 2: due after 2 000 ms
    expect(b.resent).toBe(1);
    expect(b.nextDueBatch(1, timeouts, 3001)).toBeUndefined();
    b.restartReceiptTimeout(again.batchId, 3001);
    expect(b.nextDueBatch(1, timeouts, 5001)).toBeUndefined();
    expect(b.nextDueBatch(1, timeouts, 5002)).toBeDefined(); // attempt 3: 4 000 ms
    expect(b.nextDueBatch(1, timeouts, 9003)).toBeDefined(); // attempt 4: capped at 4 000 ms
  });

  it('removes what a receipt names (a late receipt too) and releases a batch whose publish failed', () => {
    const b = new MemoryBuffer(readings.slice(0, 3));
    const first = b.nextDueBatch(2, timeouts, 0)!;
    b.release(first.batchId);
    const retry = b.nextDueBatch(2, timeouts, 1)!;
    expect(retry.readings.map((r) => r.id)).toEqual(first.readings.map((r) => r.id));
    const removed = b.applyReceipt({
      v: 1,
      batchId: first.batchId, // the older batch id: still names readings the hub keeps
      results: [
        { id: readings[0]!.id, outcome: 'stored' },
        { id: 'not-mine', outcome: 'stored' },
      ],
    });
    expect(removed).toEqual([readings[0]!.id]);
    expect(b.depth).toBe(2);
  });
});
