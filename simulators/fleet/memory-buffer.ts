import { randomUUID } from 'node:crypto';
import type { Reading, Receipt } from '../../contract';
import type { BufferAlarm, BufferStats, OutboundBatch, UplinkBuffer } from '../../gateway';

interface Entry {
  reading: Reading;
  batchId?: string | undefined;
  sentAt?: number | undefined;
  attempts: number;
}

/**
 * The box's outbox (gateway/buffer/reading-buffer.ts) kept in memory, for a simulated fleet of
 * thousands of boxes in one process: same claim rule (never sent, or sent without receipt for
 * longer than the receipt timeout doubled per attempt, capped), same receipt and release
 * semantics, in enqueue order. No capacity or age policy (a simulated backlog is fixed).
 */
export class MemoryBuffer implements UplinkBuffer {
  private readonly entries = new Map<string, Entry>();
  /** readings claimed again after a first send */
  resent = 0;

  constructor(readings: readonly Reading[]) {
    for (const r of readings) this.entries.set(r.id, { reading: r, attempts: 0 });
  }

  nextDueBatch(
    max: number,
    timeouts: { timeoutMs: number; maxTimeoutMs: number },
    nowMs = Date.now(),
  ): OutboundBatch | undefined {
    const due: Entry[] = [];
    for (const e of this.entries.values()) {
      if (due.length >= max) break;
      const wait = Math.min(timeouts.timeoutMs * 2 ** Math.min(Math.max(e.attempts - 1, 0), 20), timeouts.maxTimeoutMs);
      if (e.batchId === undefined || (e.sentAt ?? 0) + wait < nowMs) due.push(e);
    }
    if (due.length === 0) return undefined;
    const batchId = randomUUID();
    for (const e of due) {
      e.batchId = batchId;
      e.sentAt = nowMs;
      e.attempts++;
      if (e.attempts > 1) this.resent++;
    }
    return { batchId, readings: due.map((e) => e.reading) };
  }

  restartReceiptTimeout(batchId: string, nowMs = Date.now()): void {
    for (const e of this.entries.values()) if (e.batchId === batchId) e.sentAt = nowMs;
  }

  /** Removes every reading the receipt names (a late receipt of an older batch counts too). */
  applyReceipt(receipt: Receipt): string[] {
    return receipt.results.filter((r) => this.entries.delete(r.id)).map((r) => r.id);
  }

  release(batchId: string): void {
    for (const e of this.entries.values())
      if (e.batchId === batchId) {
        e.batchId = undefined;
        e.sentAt = undefined;
      }
  }

  alarm(): BufferAlarm | null {
    return null;
  }

  get depth(): number {
    return this.entries.size;
  }

  stats(): BufferStats {
    let inFlight = 0;
    for (const e of this.entries.values()) if (e.batchId !== undefined) inFlight++;
    // bytes are not tracked in memory (the box reports its SQLite outbox size)
    return { depth: this.entries.size, inFlight, oldestAt: null, bytes: 0, dropped: 0, alarm: null };
  }
}
