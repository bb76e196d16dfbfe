import type { Logger } from 'pino';
import type { Reading } from '../../contract';
import {
  encodeCurrentTime,
  localTimeOf,
  type CurrentTime,
  type DriverRegistry,
  type LoadedDriver,
} from '../../drivers';
import {
  encodeRacpRequest,
  racpAbort,
  racpReportAllRecords,
  racpReportRecordsAfter,
  type RacpResponse,
} from '../../drivers/shared/racp';
import type { BleConnection } from '../ble/transport';
import type { DeviceCursorUpdate } from '../buffer/reading-buffer';
import { localToUtc } from '../time/local-time';
import { toReading } from './reading-factory';
import { errorMessage } from '../../contract/errors';

export interface SessionResult {
  readings: number;
  rejectedFields: number;
  clockOffsetMs?: number | undefined;
  battery?: number | undefined;
  info: Record<string, unknown>;
}

/** Commits readings durably, with the device's stored-record cursor in the same transaction. */
export type CommitFn = (readings: Reading[], cursor?: DeviceCursorUpdate) => void;

export interface SessionDeps {
  gatewayId: string;
  timeZone: string;
  registry: DriverRegistry;
  idleDisconnectMs: number;
  log: Logger;
  /** commits readings durably; returns once they are in the buffer */
  commit: CommitFn;
  /** last stored-record sequence committed for a device */
  cursor?: ((deviceKey: string) => number | undefined) | undefined;
  /** how long to wait for the RACP response of a stored-record request */
  racpTimeoutMs?: number;
}

const CTS = { service: '1805', characteristic: '2a2b' };
/** Record Access Control Point (GSS 3.187), GLS 1.0 4.9 */
const RACP_UUID = '2a52';
/** ATT 0xFE "Procedure Already In Progress" (GLS 1.0 table 4.x, CSS Part B 1.2) */
const ATT_PROCEDURE_IN_PROGRESS = /0xfe|already in progress/i;
/** group commit of stored records: at most this many, or this long */
const GROUP_MAX = 250;
const GROUP_WINDOW_MS = 100;

/**
 * One connection to a paired device:
 *  1. read Current Time (CTS 0x2A2B) to measure the device clock offset before anything else;
 *  2. read declared 'read' characteristics (battery, features), subscribe to notify/indicate ones,
 *     write declared start commands; stored records then flow (BLS/WSS/HTS send them on subscribe);
 *  3. commit each decoded measurement to the durable buffer as it arrives;
 *  4. when the device has been silent for idleDisconnectMs, set its clock (CTS write, after the
 *     stored records so their time stamps are corrected with the offset they were taken with)
 *     and disconnect.
 */
export async function runDeviceSession(
  conn: BleConnection,
  driver: LoadedDriver,
  d: SessionDeps,
): Promise<SessionResult> {
  const result: SessionResult = { readings: 0, rejectedFields: 0, info: {} };
  const address = conn.address;
  const driverId = driver.definition.id;
  let lastActivity = Date.now();
  let disconnected = false as boolean; // set by the link-lost callback and the commit failure path
  conn.onDisconnect(() => {
    disconnected = true;
  });

  const racpUse = driver.definition.capabilities.storedRecords
    ? driver.definition.characteristics.find((c) => c.characteristic === RACP_UUID)
    : undefined;
  let racpWaiter: ((r: RacpResponse) => void) | undefined;
  const timeOfSequence = new Map<number, string>();
  /** the stored-record transfer this session asked for: records from `next` on are ours */
  let transfer: { next: number } | undefined;

  let commitError: Error | undefined;
  const staged: Reading[] = [];
  let stagedCursor: DeviceCursorUpdate | undefined;
  /** highest sequence number of the stored records received in this session */
  let highestSequenceSeen: number | undefined;
  let groupTimer: NodeJS.Timeout | undefined;
  const handle = (characteristic: string, bytes: Uint8Array) => {
    if (commitError) return;
    lastActivity = Date.now();
    const out = d.registry.decode(driverId, characteristic, bytes, address);
    if (!out.ok) {
      d.log.warn({ device: address, driver: driverId, characteristic, code: out.code }, 'packet not decoded');
      return;
    }
    if (characteristic === RACP_UUID) {
      const racp = out.result.info?.racp as RacpResponse | undefined;
      if (racp) racpWaiter?.(racp);
      return;
    }
    result.rejectedFields += out.result.rejected.length;
    for (const r of out.result.rejected)
      d.log.info({ device: address, characteristic, field: r.field, code: r.code }, 'field not emitted');
    Object.assign(result.info, out.result.info ?? {});
    const receivedAt = new Date();
    // a Glucose Measurement Context (0x2A34) carries no time: it belongs to the measurement with
    // the same sequence number (GLS 1.0 3.107), whose device time it takes
    for (const m of out.result.measurements) {
      if (m.sequence === undefined) continue;
      if (m.deviceTime !== undefined) timeOfSequence.set(m.sequence, m.deviceTime);
      else if (timeOfSequence.has(m.sequence)) m.deviceTime = timeOfSequence.get(m.sequence);
    }
    const readings = out.result.measurements
      // intermediate cuff pressure / temperature are progress values, not results (BLS 3.2, HTS 3.2)
      .filter((m) => !(m.flags ?? []).includes('intermediate'))
      .map((m) =>
        toReading(m, {
          gatewayId: d.gatewayId,
          address,
          driver: driverId,
          timeZone: d.timeZone,
          clockOffsetMs: result.clockOffsetMs,
          receivedAt,
          raw: bytes,
        }),
      );
    for (const r of readings) if (r.metric === 'battery_level') result.battery = r.value;
    // stored records (RACP): the cursor advances in the same transaction as the record's readings.
    // A record whose context (0x2A34) follows keeps the cursor one short until the context is in,
    // so a link lost between the two re-requests the record (its readings dedup by id).
    // Only records of OUR transfer move the cursor, in increasing order from where we asked: a
    // transfer still running from a connection of a killed process also reaches this
    // subscription, and its records would otherwise push the cursor over the ones not yet read.
    let seq = racpUse ? out.result.measurements.find((m) => m.sequence !== undefined)?.sequence : undefined;
    if (seq !== undefined) highestSequenceSeen = Math.max(highestSequenceSeen ?? seq, seq);
    if (seq !== undefined) {
      if (!transfer || seq < transfer.next) seq = undefined;
      else transfer.next = seq;
    }
    const contextFollows = out.result.measurements.some((m) => (m.flags ?? []).includes('context_follows'));
    const cursor = seq !== undefined ? { deviceKey: address, value: contextFollows ? seq - 1 : seq } : undefined;
    if (readings.length || cursor) {
      staged.push(...readings);
      if (cursor) stagedCursor = cursor;
      result.readings += readings.length;
      // stored-record transfers are committed in groups (one fsync per group, not per record):
      // the group's cursor is in the same transaction, so a crash loses both and the records are
      // requested again. Anything else is committed at once.
      if (!racpUse || staged.length >= GROUP_MAX) flush();
      else groupTimer ??= setTimeout(flush, GROUP_WINDOW_MS);
    }
  };

  function flush(): void {
    if (groupTimer) clearTimeout(groupTimer);
    groupTimer = undefined;
    if (commitError || (staged.length === 0 && !stagedCursor)) return;
    const readings = staged.splice(0);
    const cursor = stagedCursor;
    stagedCursor = undefined;
    try {
      d.commit(readings, cursor);
    } catch (e) {
      // the buffer refused (disk full): stop here, so no later record moves the cursor past these
      result.readings -= readings.length;
      commitError = e as Error;
      disconnected = true;
      void conn.disconnect().catch((e: unknown) => {
        d.log.debug({ device: address, err: errorMessage(e) }, 'disconnect after a refused commit failed');
      });
    }
  }

  const hasCts = await conn.has(CTS.service, CTS.characteristic).catch(() => false);
  if (hasCts) {
    try {
      const before = Date.now();
      const bytes = await conn.read(CTS.service, CTS.characteristic);
      // the device read its clock somewhere during the round trip: compare with the midpoint
      const gatewayNow = (before + Date.now()) / 2;
      const decoded = d.registry.decode(driverId, CTS.characteristic, bytes, address);
      const ct = decoded.ok ? (decoded.result.info?.currentTime as CurrentTime | undefined) : undefined;
      if (ct?.deviceTime) {
        // Exact Time 256 fractions (CTS 1.1 3.1) refine the second; the offset is kept in whole
        // seconds, the resolution of the time stamps it corrects (GSS Date Time)
        const deviceMs = localToUtc(ct.deviceTime, d.timeZone).getTime() + Math.floor((ct.fractions256 * 1000) / 256);
        const offset = Math.round((deviceMs - gatewayNow) / 1000) * 1000;
        // CTS has 1 s resolution (Exact Time 256 fractions are optional): within 2 s the clock is right
        result.clockOffsetMs = Math.abs(offset) < 2_000 ? 0 : offset;
      }
    } catch (e) {
      d.log.debug({ device: address, err: (e as Error).message }, 'current time not readable');
    }
  }

  for (const c of driver.definition.characteristics) {
    if (c.service === CTS.service && c.characteristic === CTS.characteristic) continue;
    const present = await conn.has(c.service, c.characteristic);
    if (!present) {
      if (c.required)
        throw Object.assign(new Error(`device lacks required characteristic ${c.characteristic}`), {
          code: 'NOT_SUPPORTED',
        });
      continue;
    }
    if (c.access === 'read') handle(c.characteristic, await conn.read(c.service, c.characteristic));
    else if (c.access === 'notify' || c.access === 'indicate')
      await conn.subscribe(c.service, c.characteristic, (v) => handle(c.characteristic, v));
  }
  for (const c of driver.definition.characteristics) {
    if (c.writeOnConnect) await conn.write(c.service, c.characteristic, Buffer.from(c.writeOnConnect, 'hex'));
  }
  if (racpUse) await syncStoredRecords(racpUse);

  while (!disconnected && Date.now() - lastActivity < d.idleDisconnectMs) {
    await new Promise((r) => setTimeout(r, Math.min(250, d.idleDisconnectMs)));
  }
  flush();
  if (commitError) throw commitError;
  if (!disconnected) {
    if (hasCts && driver.definition.capabilities.timeSync) {
      // CTS 3.1: the client may write Current Time when the server permits it; failures are not fatal
      await conn
        .write(
          CTS.service,
          CTS.characteristic,
          encodeCurrentTime({
            ...localTimeOf(new Date(), d.timeZone),
            adjustReason: ['external_reference_time_update'],
          }),
        )
        .catch((e: unknown) => {
          d.log.debug({ device: address, err: errorMessage(e) }, 'current time not writable');
        });
    }
    await conn.disconnect().catch((e: unknown) => {
      d.log.debug({ device: address, err: errorMessage(e) }, 'disconnect at the end of the session failed');
    });
  }
  return result;

  /**
   * RACP "report stored records greater than the last sequence" (GLS 1.0 4.9.1; RACP has only
   * >=, so >= cursor+1), or all records on the first sync. The response code ends the transfer;
   * a dropped link ends the session and the next one resumes from the committed cursor.
   */
  async function syncStoredRecords(use: NonNullable<typeof racpUse>): Promise<void> {
    const svc = use.service;
    const cursor = d.cursor?.(address);
    const request = cursor === undefined ? racpReportAllRecords() : racpReportRecordsAfter(cursor);
    if (!request) return;
    let from = cursor === undefined ? 0 : cursor + 1;
    /**
     * Writes a RACP request and waits for ITS response code (same request op code). Records and
     * responses of an older transfer reach us before the write's reply (one ordered link and bus),
     * so the transfer counts as ours only once the write has returned.
     */
    const ask = async (bytes: Uint8Array, ours: boolean): Promise<RacpResponse | undefined> => {
      const responses: RacpResponse[] = [];
      racpWaiter = (r) => void responses.push(r);
      lastActivity = Date.now();
      try {
        await conn.write(svc, RACP_UUID, bytes);
      } catch (e) {
        racpWaiter = undefined;
        throw e;
      }
      if (ours) transfer = { next: from };
      const timeoutMs = d.racpTimeoutMs ?? 30_000;
      for (;;) {
        const mine = responses.find((r) => r.type === 'response_code' && r.requestOpCode === bytes[0]);
        if (mine) {
          racpWaiter = undefined;
          return mine;
        }
        // the timeout runs from the last packet: a long transfer is not cut short
        if (disconnected || Date.now() - lastActivity > timeoutMs) {
          racpWaiter = undefined;
          return undefined;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    let response: RacpResponse | undefined;
    try {
      response = await ask(request, true);
    } catch (e) {
      transfer = undefined;
      if (!ATT_PROCEDURE_IN_PROGRESS.test((e as Error).message)) throw e;
      // a transfer of an earlier connection is still running on the device: abort it, ask again
      d.log.info({ device: address, code: 'RACP_IN_PROGRESS' }, 'aborting a stale stored-record transfer');
      await ask(racpAbort(), false);
      response = await ask(request, true);
    }
    transfer = undefined;
    if (
      cursor !== undefined &&
      response?.type === 'response_code' &&
      response.status === 'no_records_found' &&
      (await renumbered(cursor))
    ) {
      // every record is new to us again: ask for all of them (their ids include the device time)
      from = 0;
      response = await ask(racpReportAllRecords(), true);
      transfer = undefined;
    }
    result.info.racp = response ?? { type: 'timeout' };
    if (!response)
      d.log.warn(
        { device: address, code: disconnected ? 'RACP_LINK_LOST' : 'RACP_TIMEOUT', cursor },
        'stored-record transfer did not complete',
      );
    else if (
      response.type === 'response_code' &&
      response.status !== 'success' &&
      response.status !== 'no_records_found'
    ) {
      d.log.warn({ device: address, code: 'RACP_FAILED', status: response.status }, 'stored-record request refused');
    }
    flush();
    // nothing more will come unsolicited: leave at once rather than wait out the idle time
    if (response) lastActivity = 0;

    /**
     * No record after the cursor: either nothing new, or the meter renumbered its records (memory
     * or battery reset: GLS 1.0 3.106 says sequence numbers never go back, real meters do), and
     * "greater than the cursor" would then miss every new record for ever. The last record
     * (RACP operator "last record", GLS 1.0 4.9.2) tells: a sequence below the cursor means
     * renumbered, and the cursor is forgotten in the buffer.
     */
    async function renumbered(after: number): Promise<boolean> {
      highestSequenceSeen = undefined as number | undefined; // the notifications of ask() set it
      const last = await ask(encodeRacpRequest({ op: 'report', filter: 'last' }), false);
      flush();
      if (
        last?.type !== 'response_code' ||
        last.status !== 'success' ||
        highestSequenceSeen === undefined ||
        highestSequenceSeen >= after
      )
        return false;
      d.log.warn(
        { device: address, code: 'RACP_SEQUENCE_RESET', cursor: after, lastSequence: highestSequenceSeen },
        'the device renumbered its stored records; reading them all again',
      );
      d.commit([], { deviceKey: address, renumbered: true });
      return true;
    }
  }
}
