import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type PairingSource = 'config' | 'window' | 'hub' | 'cli';

export interface PairedDevice {
  address: string;
  source: PairingSource;
  driver: string | null;
  pairedAt: string;
}

/**
 * Devices paired to this box and the pairing window, persisted in the buffer database (its own
 * connection: the CLI opens a window while the gateway runs, the gateway polls it). Outside a
 * window an unknown device is ignored, so a neighbour's scale never reaches a record
 * (ble-field-notes: "allow-list by address, pairing only on request").
 */
export class PairingStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // page cache of 64 KiB (SQLite's default is 2 MiB per connection): the box has 1 GB and a memory budget
    this.db.pragma('cache_size = -64');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS paired_devices (
        address   TEXT PRIMARY KEY,
        source    TEXT NOT NULL,
        driver    TEXT,
        paired_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS device_state (
        address TEXT NOT NULL,
        driver  TEXT NOT NULL,
        key     TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (address, driver, key)
      );
      CREATE TABLE IF NOT EXISTS pairing_window (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        open_until INTEGER NOT NULL,
        opened_by  TEXT NOT NULL
      );
    `);
    this.stmts = {
      pair: this.db.prepare(
        'INSERT INTO paired_devices (address, source, driver, paired_at) VALUES (?, ?, ?, ?) ON CONFLICT (address) DO NOTHING',
      ),
      unpair: this.db.prepare('DELETE FROM paired_devices WHERE address = ?'),
      list: this.db.prepare(
        'SELECT address, source, driver, paired_at AS pairedAt FROM paired_devices ORDER BY paired_at',
      ),
      open: this.db.prepare(
        'INSERT INTO pairing_window (id, open_until, opened_by) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET open_until = excluded.open_until, opened_by = excluded.opened_by',
      ),
      getState: this.db.prepare('SELECT value FROM device_state WHERE address = ? AND driver = ? AND key = ?'),
      setState: this.db.prepare(
        'INSERT INTO device_state (address, driver, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (address, driver, key) DO UPDATE SET value = excluded.value',
      ),
      clearState: this.db.prepare('DELETE FROM device_state WHERE address = ?'),
      window: this.db.prepare('SELECT open_until AS openUntil, opened_by AS openedBy FROM pairing_window WHERE id = 1'),
    };
  }

  /** true when the device was not paired before */
  pair(address: string, source: PairingSource, driver?: string): boolean {
    return this.stmts.pair.run(address.toUpperCase(), source, driver ?? null, new Date().toISOString()).changes > 0;
  }

  unpair(address: string): boolean {
    this.stmts.clearState.run(address.toUpperCase());
    return this.stmts.unpair.run(address.toUpperCase()).changes > 0;
  }

  /**
   * A driver's small per-device state (a vendor pairing key programmed into the device): kept
   * with the pairing, forgotten when the device is unpaired (gateway/devices/session-core.ts).
   */
  get(address: string, driver: string, key: string): string | undefined {
    const row = this.stmts.getState.get(address.toUpperCase(), driver, key) as { value: string } | undefined;
    return row?.value;
  }

  set(address: string, driver: string, key: string, value: string): void {
    this.stmts.setState.run(address.toUpperCase(), driver, key, value);
  }

  list(): PairedDevice[] {
    return this.stmts.list.all() as PairedDevice[];
  }

  /** opens (or extends, or with 0 closes) the pairing window */
  openWindow(untilMs: number, openedBy: PairingSource): void {
    this.stmts.open.run(Math.round(untilMs), openedBy);
  }

  closeWindow(): void {
    this.openWindow(0, 'cli');
  }

  /** the window's end (epoch ms) when open now, else undefined */
  windowOpenUntil(nowMs = Date.now()): number | undefined {
    const w = this.stmts.window.get() as { openUntil: number } | undefined;
    return w && w.openUntil > nowMs ? w.openUntil : undefined;
  }

  close(): void {
    this.db.close();
  }
}
