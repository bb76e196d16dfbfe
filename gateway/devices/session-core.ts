import type { Logger } from 'pino';
import type { Reading } from '../../contract';
import { errorMessage } from '../../contract/errors';
import type { DriverRegistry, LoadedDriver, Measurement } from '../../drivers';
import type { RacpResponse } from '../../drivers/common/racp';
import { StepError, type SessionCursor, type SessionIo } from '../../drivers/sdk/session';
import { normalizeUuid } from '../../drivers/sdk/uuid';
import { BleError, type BleConnection } from '../ble/transport';
import type { DeviceCursorUpdate } from '../buffer/reading-buffer';
import { toReading } from './reading-factory';

export interface SessionResult {
  readings: number;
  rejectedFields: number;
  clockOffsetMs?: number | undefined;
  battery?: number | undefined;
  info: Record<string, unknown>;
}

/** Commits readings durably, with the device's stored-record cursor in the same transaction. */
export type CommitFn = (readings: Reading[], cursor?: DeviceCursorUpdate) => void;

/** Per-device driver state (a programmed pairing key): gateway/pairing/pairing-store.ts */
export interface DeviceStateStore {
  get(address: string, driver: string, key: string): string | undefined;
  set(address: string, driver: string, key: string, value: string): void;
}

export interface SessionDeps {
  gatewayId: string;
  timeZone: string;
  registry: DriverRegistry;
  idleDisconnectMs: number;
  log: Logger;
  /** commits readings durably; returns once they are in the buffer */
  commit: CommitFn;
  /** last stored-record sequence committed for a device key (address, or address/sub-key) */
  cursor?: ((deviceKey: string) => number | undefined) | undefined;
  /** how long to wait for the RACP response of a stored-record request */
  racpTimeoutMs?: number;
  /** the device may be programmed now (pairing window open, or explicitly paired) */
  pairing?: boolean;
  /** persisted per-device driver state; absent: kept for this session only */
  state?: DeviceStateStore;
}

export const RACP_UUID = '2a52';
/** group commit of stored records: at most this many, or this long */
const GROUP_MAX = 250;
const GROUP_WINDOW_MS = 100;

/** the cursor key of a device or of one of its sub-keys (per-user record indices) */
export const cursorKey = (address: string, key = ''): string => (key ? `${address}/${key}` : address);

interface Waiter {
  characteristic: string;
  match: (v: Uint8Array) => boolean;
  resolve: (v: Uint8Array) => void;
  reject: (e: Error) => void;
}

/**
 * The state of one connection the steps share: the packet pipeline (decode -> readings -> durable
 * commit with the stored-record cursor), waiters of expect(), activity and link state. It is the
 * SessionIo driver steps see; the standard RACP step also uses the transfer bookkeeping.
 */
export class SessionCore implements SessionIo {
  readonly result: SessionResult = { readings: 0, rejectedFields: 0, info: {} };
  readonly address: string;
  readonly timeZone: string;
  readonly pairing: boolean;
  readonly driverId: string;
  lastActivity = Date.now();
  disconnected = false;
  finished = false;
  commitError: Error | undefined;
  /** RACP: receives response codes of the control point */
  racpWaiter: ((r: RacpResponse) => void) | undefined;
  /** RACP: the stored-record transfer this session asked for: records from `next` on are ours */
  transfer: { next: number } | undefined;
  /** RACP: highest sequence number of the stored records received in this session */
  highestSequenceSeen: number | undefined;
  /** default timeout of expect() (the running step's timeout) */
  stepTimeoutMs = 10_000;
  private readonly timeOfSequence = new Map<number, string>();
  private readonly staged: Reading[] = [];
  private stagedCursor: DeviceCursorUpdate | undefined;
  private groupTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<{ characteristic: string; onValue: (v: Uint8Array) => void }>();
  private readonly localState = new Map<string, string>();
  /** characteristics the driver decodes (a dialogue's command channels have no decoder) */
  private readonly decoded: Set<string>;
  readonly state: SessionIo['state'];

  constructor(
    readonly conn: BleConnection,
    readonly driver: LoadedDriver,
    readonly d: SessionDeps,
  ) {
    this.address = conn.address;
    this.timeZone = d.timeZone;
    this.pairing = d.pairing ?? false;
    this.driverId = driver.definition.id;
    this.decoded = new Set(Object.keys(driver.driver.decoders ?? {}).map(normalizeUuid));
    conn.onDisconnect(() => {
      this.disconnected = true;
      for (const w of this.waiters) w.reject(new BleError('DISCONNECTED', `${this.address}: link lost`));
      this.waiters.clear();
    });
    const store = d.state;
    this.state = {
      get: (k) => (store ? store.get(this.address, this.driverId, k) : this.localState.get(k)),
      set: (k, v) => (store ? store.set(this.address, this.driverId, k, v) : void this.localState.set(k, v)),
    };
  }

  get clockOffsetMs(): number | undefined {
    return this.result.clockOffsetMs;
  }
  set clockOffsetMs(v: number | undefined) {
    this.result.clockOffsetMs = v;
  }

  has(service: string, characteristic: string): Promise<boolean> {
    return this.conn.has(service, characteristic);
  }

  async read(service: string, characteristic: string): Promise<Uint8Array> {
    const v = await this.conn.read(service, characteristic);
    this.lastActivity = Date.now();
    return v;
  }

  async write(service: string, characteristic: string, value: Uint8Array): Promise<void> {
    this.lastActivity = Date.now();
    await this.conn.write(service, characteristic, value);
  }

  async subscribe(service: string, characteristic: string): Promise<void> {
    const c = normalizeUuid(characteristic);
    await this.conn.subscribe(service, characteristic, (v) => this.onValue(c, v));
  }

  expect(characteristic: string, match: (v: Uint8Array) => boolean = () => true, timeoutMs?: number) {
    const c = normalizeUuid(characteristic);
    if (this.disconnected) return Promise.reject(new BleError('DISCONNECTED', `${this.address}: link lost`));
    return new Promise<Uint8Array>((resolve, reject) => {
      const ms = timeoutMs ?? this.stepTimeoutMs;
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new StepError('STEP_TIMEOUT', `no expected value of ${c} within ${ms} ms`));
      }, ms);
      const w: Waiter = {
        characteristic: c,
        match,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.add(w);
    });
  }

  listen(characteristic: string, onValue: (v: Uint8Array) => void): () => void {
    const l = { characteristic: normalizeUuid(characteristic), onValue };
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  collect(characteristic: string, isLast: (v: Uint8Array) => boolean, timeoutMs?: number): Promise<Uint8Array[]> {
    const c = normalizeUuid(characteristic);
    if (this.disconnected) return Promise.reject(new BleError('DISCONNECTED', `${this.address}: link lost`));
    const values: Uint8Array[] = [];
    const ms = timeoutMs ?? this.stepTimeoutMs;
    return new Promise<Uint8Array[]>((resolve, reject) => {
      let timer = setTimeout(stalled, ms);
      function stalled() {
        waiters.delete(w);
        reject(new StepError('STEP_TIMEOUT', `the stream of ${c} stalled for ${ms} ms`));
      }
      const waiters = this.waiters;
      // a waiter that accepts every value and never leaves until the last one: nothing is lost
      // between two values, however close together they arrive
      const w: Waiter = {
        characteristic: c,
        match: (v) => {
          values.push(v);
          clearTimeout(timer);
          timer = setTimeout(stalled, ms);
          return isLast(v);
        },
        resolve: () => {
          clearTimeout(timer);
          resolve(values);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      waiters.add(w);
    });
  }

  commit(measurements: Measurement[], raw: Uint8Array, cursor?: SessionCursor): void {
    if (this.commitError) throw this.commitError;
    const readings = this.toReadings(measurements, raw, new Date());
    const update = cursor ? { deviceKey: cursorKey(this.address, cursor.key), value: cursor.value } : undefined;
    this.stage(readings, update);
    this.flush();
    this.throwIfCommitFailed();
  }

  /** the buffer refused a commit this session (disk full): nothing more may be committed */
  throwIfCommitFailed(): void {
    if (this.commitError) throw this.commitError;
  }

  cursor(key = ''): number | undefined {
    return this.d.cursor?.(cursorKey(this.address, key));
  }

  log(level: 'debug' | 'info' | 'warn', code: string, fields: Record<string, unknown> = {}): void {
    this.d.log[level]({ device: this.address, driver: this.driverId, code, ...fields }, 'device session');
  }

  finish(): void {
    this.finished = true;
  }

  /** a notification/indication: waiters first (a dialogue reply), then the driver's decoder */
  private onValue(characteristic: string, bytes: Uint8Array): void {
    this.lastActivity = Date.now();
    // listeners first: a waiter resolved below may look at what they collected
    for (const l of this.listeners) if (l.characteristic === characteristic) l.onValue(bytes);
    for (const w of this.waiters) {
      if (w.characteristic !== characteristic || !w.match(bytes)) continue;
      this.waiters.delete(w);
      w.resolve(bytes);
      break;
    }
    if (this.decoded.has(characteristic)) this.handle(characteristic, bytes);
  }

  /** decodes one value with the driver and commits its readings (stored records in groups) */
  handle(characteristic: string, bytes: Uint8Array): void {
    if (this.commitError) return;
    this.lastActivity = Date.now();
    const d = this.d;
    const out = d.registry.decode(this.driverId, characteristic, bytes, this.address);
    if (!out.ok) {
      d.log.warn({ device: this.address, driver: this.driverId, characteristic, code: out.code }, 'packet not decoded');
      return;
    }
    if (characteristic === RACP_UUID) {
      const racp = out.result.info?.racp as RacpResponse | undefined;
      if (racp) this.racpWaiter?.(racp);
      return;
    }
    const result = this.result;
    result.rejectedFields += out.result.rejected.length;
    for (const r of out.result.rejected)
      d.log.info({ device: this.address, characteristic, field: r.field, code: r.code }, 'field not emitted');
    Object.assign(result.info, out.result.info ?? {});
    // a Glucose Measurement Context (0x2A34) carries no time: it belongs to the measurement with
    // the same sequence number (GLS 1.0 3.107), whose device time it takes
    for (const m of out.result.measurements) {
      if (m.sequence === undefined) continue;
      if (m.deviceTime !== undefined) this.timeOfSequence.set(m.sequence, m.deviceTime);
      else if (this.timeOfSequence.has(m.sequence)) m.deviceTime = this.timeOfSequence.get(m.sequence);
    }
    const readings = this.toReadings(out.result.measurements, bytes, new Date());
    // stored records (RACP): the cursor advances in the same transaction as the record's readings.
    // A record whose context (0x2A34) follows keeps the cursor one short until the context is in,
    // so a link lost between the two re-requests the record (its readings dedup by id).
    // Only records of OUR transfer move the cursor, in increasing order from where we asked: a
    // transfer still running from a connection of a killed process also reaches this
    // subscription, and its records would otherwise push the cursor over the ones not yet read.
    const racpUse = this.racpInUse;
    let seq = racpUse ? out.result.measurements.find((m) => m.sequence !== undefined)?.sequence : undefined;
    if (seq !== undefined) this.highestSequenceSeen = Math.max(this.highestSequenceSeen ?? seq, seq);
    if (seq !== undefined) {
      if (!this.transfer || seq < this.transfer.next) seq = undefined;
      else this.transfer.next = seq;
    }
    const contextFollows = out.result.measurements.some((m) => (m.flags ?? []).includes('context_follows'));
    const cursor = seq !== undefined ? { deviceKey: this.address, value: contextFollows ? seq - 1 : seq } : undefined;
    if (readings.length || cursor) {
      this.stage(readings, cursor);
      // stored-record transfers are committed in groups (one fsync per group, not per record):
      // the group's cursor is in the same transaction, so a crash loses both and the records are
      // requested again. Anything else is committed at once.
      if (!racpUse || this.staged.length >= GROUP_MAX) this.flush();
      else this.groupTimer ??= setTimeout(() => this.flush(), GROUP_WINDOW_MS);
    }
  }

  /** whether this driver reads stored records over RACP */
  get racpInUse(): boolean {
    return (
      this.driver.definition.capabilities.storedRecords &&
      this.driver.definition.characteristics.some((c) => c.characteristic === RACP_UUID)
    );
  }

  private toReadings(measurements: Measurement[], raw: Uint8Array, receivedAt: Date): Reading[] {
    const readings = measurements
      // intermediate cuff pressure / temperature are progress values, not results (BLS 3.2, HTS 3.2)
      .filter((m) => !(m.flags ?? []).includes('intermediate'))
      .map((m) =>
        toReading(m, {
          gatewayId: this.d.gatewayId,
          address: this.address,
          driver: this.driverId,
          timeZone: this.d.timeZone,
          clockOffsetMs: this.result.clockOffsetMs,
          receivedAt,
          raw,
        }),
      );
    for (const r of readings) if (r.metric === 'battery_level') this.result.battery = r.value;
    return readings;
  }

  private stage(readings: Reading[], cursor: DeviceCursorUpdate | undefined): void {
    this.staged.push(...readings);
    if (cursor) this.stagedCursor = cursor;
    this.result.readings += readings.length;
  }

  /** commits what is staged; a refusal (disk full) ends the session without moving the cursor */
  flush(cursor?: DeviceCursorUpdate): void {
    if (this.groupTimer) clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    if (cursor) this.stagedCursor = cursor;
    if (this.commitError || (this.staged.length === 0 && !this.stagedCursor)) return;
    const readings = this.staged.splice(0);
    const update = this.stagedCursor;
    this.stagedCursor = undefined;
    try {
      this.d.commit(readings, update);
    } catch (e) {
      // the buffer refused (disk full): stop here, so no later record moves the cursor past these
      this.result.readings -= readings.length;
      this.commitError = e as Error;
      this.disconnected = true;
      void this.conn.disconnect().catch((err: unknown) => {
        this.log('debug', 'DISCONNECT_FAILED', { err: errorMessage(err) });
      });
    }
  }

  /** waits until the device has been silent for idleDisconnectMs, the link is gone or a step finished */
  async idle(): Promise<void> {
    const d = this.d;
    while (!this.disconnected && !this.finished && Date.now() - this.lastActivity < d.idleDisconnectMs) {
      await new Promise((r) => setTimeout(r, Math.min(250, d.idleDisconnectMs)));
    }
  }

  /** cancels what is pending when the session ends */
  close(): void {
    if (this.groupTimer) clearTimeout(this.groupTimer);
    for (const w of this.waiters) w.reject(new StepError('SESSION_ENDED', 'session ended'));
    this.waiters.clear();
    this.listeners.clear();
  }
}
