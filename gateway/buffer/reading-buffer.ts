import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reading, Receipt } from '../../contract';

export interface OutboundBatch {
  batchId: string;
  readings: Reading[];
}

export interface BufferStats {
  depth: number;
  inFlight: number;
  oldestAt: string | null;
  bytes: number;
  /** readings dropped by the capacity/age policy since the buffer was created */
  dropped: number;
  /** QUEUE_NEAR_CAPACITY, QUEUE_DROPPING, BUFFER_DISK_FULL, or null */
  alarm: BufferAlarm | null;
}

export type BufferAlarm = 'QUEUE_NEAR_CAPACITY' | 'QUEUE_DROPPING' | 'BUFFER_DISK_FULL';

/**
 * Bounds of the buffer. Policy (README "Buffer policy"): the heartbeat raises QUEUE_NEAR_CAPACITY
 * from alarmRatio x maxReadings on, well before anything goes; at maxReadings the OLDEST readings
 * are dropped to make room (the newest are the clinically actionable ones) and QUEUE_DROPPING is
 * raised; readings queued longer than maxAgeDays are dropped. Every drop is counted.
 */
export interface BufferLimits {
  maxReadings: number;
  maxAgeDays: number;
  alarmRatio: number;
  /** SQLite max_page_count: a hard size cap (tests simulate a full disk with it) */
  maxPages?: number | undefined;
}

export const DEFAULT_LIMITS: BufferLimits = { maxReadings: 500_000, maxAgeDays: 60, alarmRatio: 0.8 };

/**
 * A device's stored-record cursor: it only moves forward (a stale transfer cannot move it back),
 * except when the device renumbered its records (memory reset: sequence numbers start again), which
 * forgets it so that every record is requested again.
 */
export type DeviceCursorUpdate =
  { deviceKey: string; value: number; renumbered?: false } | { deviceKey: string; renumbered: true };

/** A write the buffer could not make; the transaction was rolled back (no cursor moved). */
export class BufferError extends Error {
  constructor(
    readonly code: 'BUFFER_DISK_FULL' | 'BUFFER_WRITE_FAILED',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'BufferError';
  }
}

/**
 * The gateway's durable outbox (SQLite, WAL, synchronous=FULL: a committed reading survives a
 * power cut). A reading is inserted once per id (re-decoded or re-indicated copies are ignored),
 * travels in a batch, and leaves only when the hub's receipt names it. A batch without receipt
 * is offered again after the receipt timeout with the same reading ids, so the hub dedups.
 * Receipted ids are remembered (receipt_log, pruned after 30 days) so repeated copies stay out.
 * Device record cursors live in the same database and advance in the same transaction as the
 * readings they cover (ble-field-notes: never advance a cursor past an uncommitted reading).
 */
export class ReadingBuffer {
  private readonly db: Database.Database;
  private readonly stmts;
  private diskFull = false;
  private droppingSince: number | undefined;

  constructor(
    path: string,
    private readonly limits: BufferLimits = DEFAULT_LIMITS,
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // page cache of 512 KiB (SQLite's default is 2 MiB per connection): the box has 1 GB and a memory budget
    this.db.pragma('cache_size = -512');
    if (limits.maxPages) this.db.pragma(`max_page_count = ${limits.maxPages}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        reading_id  TEXT NOT NULL UNIQUE,
        body        TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        batch_id    TEXT,
        sent_at     INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (batch_id);
      CREATE TABLE IF NOT EXISTS device_cursors (
        device_key TEXT PRIMARY KEY,
        cursor     INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS buffer_counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS receipt_log (
        reading_id TEXT PRIMARY KEY,
        outcome    TEXT NOT NULL,
        code       TEXT,
        at         TEXT NOT NULL
      );
    `);
    this.stmts = {
      // a reading the hub already receipted (a broadcast scale repeats its advert) is not queued again
      insert: this.db.prepare(
        'INSERT OR IGNORE INTO outbox (reading_id, body, enqueued_at) SELECT @id, @body, @at WHERE NOT EXISTS (SELECT 1 FROM receipt_log WHERE reading_id = @id)',
      ),
      setCursor: this.db.prepare(
        `INSERT INTO device_cursors (device_key, cursor, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (device_key) DO UPDATE SET cursor = max(cursor, excluded.cursor), updated_at = excluded.updated_at`,
      ),
      getCursor: this.db.prepare('SELECT cursor FROM device_cursors WHERE device_key = ?'),
      clearCursor: this.db.prepare('DELETE FROM device_cursors WHERE device_key = ?'),
      due: this.db.prepare('SELECT seq, body FROM outbox WHERE batch_id IS NULL OR sent_at < ? ORDER BY seq LIMIT ?'),
      // re-send after the receipt timeout, doubled at each attempt up to a cap: a hub that is slow
      // to receipt (reconnect storm) is not buried under re-sends of what it is still filing
      dueBackoff: this.db.prepare(
        'SELECT seq, body FROM outbox WHERE batch_id IS NULL OR sent_at + min(@timeout * (1 << min(max(attempts - 1, 0), 20)), @cap) < @now ORDER BY seq LIMIT @limit',
      ),
      claim: this.db.prepare('UPDATE outbox SET batch_id = ?, sent_at = ?, attempts = attempts + 1 WHERE seq = ?'),
      remove: this.db.prepare('DELETE FROM outbox WHERE reading_id = ? AND batch_id = ?'),
      removeAny: this.db.prepare('DELETE FROM outbox WHERE reading_id = ?'),
      logReceipt: this.db.prepare(
        'INSERT OR REPLACE INTO receipt_log (reading_id, outcome, code, at) VALUES (?, ?, ?, ?)',
      ),
      release: this.db.prepare('UPDATE outbox SET batch_id = NULL, sent_at = NULL WHERE batch_id = ?'),
      restartTimeout: this.db.prepare('UPDATE outbox SET sent_at = ? WHERE batch_id = ?'),
      stats: this.db.prepare(
        'SELECT count(*) AS depth, sum(batch_id IS NOT NULL) AS inFlight, min(enqueued_at) AS oldestAt, coalesce(sum(length(body)), 0) AS bytes FROM outbox',
      ),
      pruneLog: this.db.prepare('DELETE FROM receipt_log WHERE at < ?'),
      depth: this.db.prepare('SELECT count(*) AS n FROM outbox'),
      dropOldest: this.db.prepare('DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)'),
      dropAged: this.db.prepare('DELETE FROM outbox WHERE enqueued_at < ?'),
      count: this.db.prepare(
        'INSERT INTO buffer_counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
      ),
      counter: this.db.prepare('SELECT value FROM buffer_counters WHERE name = ?'),
    };
  }

  /**
   * Commits readings (and optionally a device cursor) atomically; returns how many were new.
   * At capacity the oldest readings make room (counted). A full disk throws BufferError
   * BUFFER_DISK_FULL and nothing of the call is kept: the cursor stays where it was.
   */
  enqueue(readings: readonly Reading[], cursor?: DeviceCursorUpdate): number {
    const now = new Date().toISOString();
    try {
      const added = this.db.transaction(() => {
        let n = 0;
        for (const r of readings) n += this.stmts.insert.run({ id: r.id, body: JSON.stringify(r), at: now }).changes;
        if (cursor?.renumbered) this.stmts.clearCursor.run(cursor.deviceKey);
        else if (cursor) this.stmts.setCursor.run(cursor.deviceKey, cursor.value, now);
        if (n) {
          const over = (this.stmts.depth.get() as { n: number }).n - this.limits.maxReadings;
          if (over > 0) {
            this.stmts.dropOldest.run(over);
            this.stmts.count.run('dropped_capacity', over);
            this.droppingSince = Date.now();
          }
        }
        return n;
      })();
      this.diskFull = false;
      return added;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_FULL') {
        this.diskFull = true;
        throw new BufferError('BUFFER_DISK_FULL', 'no space left for the reading buffer; readings not committed');
      }
      throw new BufferError('BUFFER_WRITE_FAILED', (e as Error).message);
    }
  }

  /** Drops readings queued longer than maxAgeDays (policy above); returns how many. */
  pruneAged(nowMs = Date.now()): number {
    const cutoff = new Date(nowMs - this.limits.maxAgeDays * 86_400_000).toISOString();
    return this.db.transaction(() => {
      const n = this.stmts.dropAged.run(cutoff).changes;
      if (n) this.stmts.count.run('dropped_age', n);
      return n;
    })();
  }

  /** The buffer alarm for the heartbeat; raised before anything is dropped. */
  alarm(depth = (this.stmts.depth.get() as { n: number }).n): BufferAlarm | null {
    if (this.diskFull) return 'BUFFER_DISK_FULL';
    // a drop keeps the alarm up for an hour even if receipts have since made room
    if (this.droppingSince !== undefined && Date.now() - this.droppingSince < 3_600_000) return 'QUEUE_DROPPING';
    if (depth >= this.limits.alarmRatio * this.limits.maxReadings) return 'QUEUE_NEAR_CAPACITY';
    return null;
  }

  cursor(deviceKey: string): number | undefined {
    return (this.stmts.getCursor.get(deviceKey) as { cursor: number } | undefined)?.cursor;
  }

  /**
   * Claims the next readings due: never sent, or sent without receipt longer ago than the receipt
   * timeout doubled per attempt (capped at maxTimeoutMs).
   */
  nextDueBatch(
    max: number,
    timeouts: { timeoutMs: number; maxTimeoutMs: number },
    nowMs = Date.now(),
  ): OutboundBatch | undefined {
    return this.claimDue(
      () =>
        this.stmts.dueBackoff.all({ timeout: timeouts.timeoutMs, cap: timeouts.maxTimeoutMs, now: nowMs, limit: max }),
      nowMs,
    );
  }

  /** The batch's receipt timeout starts again now (at its PUBACK): its readings are not due before. */
  restartReceiptTimeout(batchId: string, nowMs = Date.now()): void {
    try {
      this.stmts.restartTimeout.run(nowMs, batchId);
    } catch (e) {
      // a full disk cannot take the update: the batch may then be offered again early (the hub dedups)
      if ((e as { code?: string }).code !== 'SQLITE_FULL') throw e;
    }
  }

  /** Claims the next readings due (never sent, or sent without receipt before `resendBefore`). */
  nextBatch(max: number, resendBeforeMs: number, nowMs = Date.now()): OutboundBatch | undefined {
    return this.claimDue(() => this.stmts.due.all(resendBeforeMs, max), nowMs);
  }

  private claimDue(select: () => unknown[], nowMs: number): OutboundBatch | undefined {
    const toBatch = (rows: { body: string }[], batchId: string) => ({
      batchId,
      readings: rows.map((r) => JSON.parse(r.body) as Reading),
    });
    try {
      return this.db.transaction(() => {
        const rows = select() as { seq: number; body: string }[];
        if (rows.length === 0) return undefined;
        const batchId = randomUUID();
        for (const r of rows) this.stmts.claim.run(batchId, nowMs, r.seq);
        return toBatch(rows, batchId);
      })();
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_FULL') throw e;
      // disk full: the claim cannot be written, but the readings must still leave (their
      // receipts are what frees space); sent unclaimed, they may be offered twice: the hub dedups
      const rows = select() as { body: string }[];
      return rows.length ? toBatch(rows, randomUUID()) : undefined;
    }
  }

  /**
   * Applies a hub receipt: every outcome means the hub kept the reading (stored, duplicate,
   * quarantined or dead-lettered), so it leaves the buffer. Returns the ids removed.
   */
  applyReceipt(receipt: Receipt): string[] {
    const now = new Date().toISOString();
    const apply = (log: boolean) =>
      this.db.transaction(() => {
        const removed: string[] = [];
        for (const r of receipt.results) {
          // a late receipt of an older batch is as good as the current one: the hub has it
          const changes =
            this.stmts.remove.run(r.id, receipt.batchId).changes || this.stmts.removeAny.run(r.id).changes;
          if (changes) removed.push(r.id);
          if (log) this.stmts.logReceipt.run(r.id, r.outcome, r.code ?? null, now);
        }
        return removed;
      })();
    try {
      return apply(true);
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_FULL') throw e;
      // disk full: free the space first (deletes only), then log the receipts if room was made
      const removed = apply(false);
      try {
        this.db.transaction(() => {
          for (const r of receipt.results) this.stmts.logReceipt.run(r.id, r.outcome, r.code ?? null, now);
        })();
      } catch {
        /* still full: a re-sent copy would be deduplicated by the hub */
      }
      return removed;
    }
  }

  /** Makes a batch due again at once (the link dropped before it was published). */
  release(batchId: string): void {
    this.stmts.release.run(batchId);
  }

  stats(): BufferStats {
    const s = this.stmts.stats.get() as {
      depth: number;
      inFlight: number | null;
      oldestAt: string | null;
      bytes: number;
    };
    const counter = (name: string) => (this.stmts.counter.get(name) as { value: number } | undefined)?.value ?? 0;
    return {
      depth: s.depth,
      inFlight: s.inFlight ?? 0,
      oldestAt: s.oldestAt,
      bytes: s.bytes,
      dropped: counter('dropped_capacity') + counter('dropped_age'),
      alarm: this.alarm(s.depth),
    };
  }

  /** SQLite's own consistency check ("ok" when sound). */
  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  pruneReceiptLog(olderThan: Date): void {
    this.stmts.pruneLog.run(olderThan.toISOString());
  }

  close(): void {
    this.db.close();
  }
}
