import type { Measurement } from './definition';

/**
 * Driver dialogues: what the gateway does on one connection, as an ordered list of named steps a
 * driver declares (standard step packs, by name) or implements (its own steps). The gateway's
 * runner (gateway/devices/device-session.ts) owns the queue, the per-step timeouts and retries,
 * the idle watchdog and the disconnect; a step only talks to the device through SessionIo and
 * sets no timers of its own.
 */
export type StepKind = 'handshake' | 'unlock' | 'time' | 'read' | 'subscribe' | 'records' | 'ack' | 'disconnect';

/**
 * Standard step packs the gateway implements for the Bluetooth SIG profiles:
 * - `cts.read-offset`: reads Current Time (CTS 1.1 3.1) and measures the device clock offset, so
 *   stored records are corrected with the offset they were taken with;
 * - `cts.write`: writes Current Time (CTS 1.1 3.1, "external reference time update") when the
 *   driver declares timeSync. Runs before subscribing: a device that drops the link right after
 *   sending its measurement still has its clock set;
 * - `gatt.read`: reads every declared 'read' characteristic (battery, features);
 * - `gatt.subscribe`: enables notifications/indications of every declared notify/indicate one;
 * - `gatt.start-commands`: writes every declared `writeOnConnect` command;
 * - `racp.sync`: stored records after the committed cursor (GLS 1.0 4.9, RACP).
 */
export const STANDARD_STEPS = [
  'cts.read-offset',
  'cts.write',
  'gatt.read',
  'gatt.subscribe',
  'gatt.start-commands',
  'racp.sync',
] as const;
export type StandardStepName = (typeof STANDARD_STEPS)[number];

/** The session of a driver that declares none: the standard profiles' order. */
export const DEFAULT_SESSION: readonly StandardStepName[] = STANDARD_STEPS;

/** what a step's run() resolves to when the remaining steps are to be skipped */
export const STOP = 'stop';

/** A cursor update committed in the same transaction as the readings it comes with. */
export interface SessionCursor {
  /** per-device sub-key, e.g. 'user1' for an Omron per-user record index; '' for the device */
  key: string;
  value: number;
}

/** What a step sees of the connection and of the gateway. */
export interface SessionIo {
  readonly address: string;
  readonly timeZone: string;
  /**
   * the device may be (re)programmed now: a pairing window is open or the device was just
   * paired explicitly (vendor key programming, Omron "-P-" mode)
   */
  readonly pairing: boolean;
  has(service: string, characteristic: string): Promise<boolean>;
  read(service: string, characteristic: string): Promise<Uint8Array>;
  write(service: string, characteristic: string, value: Uint8Array): Promise<void>;
  /**
   * enables notifications/indications; each value goes to the driver's decoder for that
   * characteristic (when it has one: its readings are committed) and to expect()
   */
  subscribe(service: string, characteristic: string): Promise<void>;
  /**
   * the next value of `characteristic` received from now on that `match` accepts; rejects with
   * code STEP_TIMEOUT after timeoutMs (default: the step's timeout) or DISCONNECTED
   */
  expect(characteristic: string, match?: (value: Uint8Array) => boolean, timeoutMs?: number): Promise<Uint8Array>;
  /**
   * calls `onValue` with every value of `characteristic` from now on, until the returned function
   * is called or the session ends: frames a device splits over several characteristics (Omron's
   * four receive channels) are reassembled by a listener while expect() times the reply
   */
  listen(characteristic: string, onValue: (value: Uint8Array) => void): () => void;
  /**
   * every value of `characteristic` from now on, up to and including the one `isLast` accepts
   * (a memory readout streamed as notifications); STEP_TIMEOUT when the stream stalls for timeoutMs
   */
  collect(characteristic: string, isLast: (value: Uint8Array) => boolean, timeoutMs?: number): Promise<Uint8Array[]>;
  /**
   * commits measurements the dialogue decoded itself (a vendor memory readout), with `raw` as their
   * provenance; `cursor` moves in the same durable transaction, so a record is never skipped
   */
  commit(measurements: Measurement[], raw: Uint8Array, cursor?: SessionCursor): void;
  /** last committed cursor of this device ('' key) or of one of its sub-keys */
  cursor(key?: string): number | undefined;
  /** small persisted per-device state of this driver (a programmed pairing key, a consent code) */
  readonly state: { get(key: string): string | undefined; set(key: string, value: string): void };
  /** clock offset (device - gateway, ms) measured this session; dialogues may set it */
  clockOffsetMs: number | undefined;
  /** operator log line with a stable code; never personal data */
  log(level: 'debug' | 'info' | 'warn', code: string, fields?: Record<string, unknown>): void;
  /** nothing more is expected from the device: the session ends without waiting for silence */
  finish(): void;
}

export interface SessionStep {
  name: string;
  kind: StepKind;
  /** skipped when false (e.g. key programming only in pairing mode) */
  when?: (io: SessionIo) => boolean;
  /** resolving to STOP skips the remaining steps (the device said it has nothing more) */
  run(io: SessionIo): Promise<unknown>;
  /** default 10 s; the step fails with STEP_TIMEOUT after it */
  timeoutMs?: number;
  /** attempts after the first failure (command resend; the connection itself is retried by the scheduler) */
  retries?: number;
  /** true: a failure is logged and the session carries on */
  optional?: boolean;
}

export interface DriverSession {
  steps: readonly (StandardStepName | SessionStep)[];
}

/** A step error with a stable code (STEP_TIMEOUT, NAK, NEEDS_PAIRING_MODE, ...). */
export class StepError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'StepError';
  }
}

/** Builds a step list: standard packs by name and driver steps, validated at load. */
export function defineSession(...steps: (StandardStepName | SessionStep)[]): DriverSession {
  const names = new Set<string>();
  for (const s of steps) {
    const name = typeof s === 'string' ? s : s.name;
    if (typeof s === 'string' && !(STANDARD_STEPS as readonly string[]).includes(s))
      throw new Error(`unknown standard step ${s}`);
    if (names.has(name)) throw new Error(`step ${name} declared twice`);
    names.add(name);
  }
  return { steps };
}
