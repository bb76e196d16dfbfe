import {
  encodeRacpRequest,
  racpAbort,
  racpReportAllRecords,
  racpReportRecordsAfter,
  type RacpResponse,
} from '../../../drivers/common/racp';
import type { SessionStep } from '../../../drivers/sdk/session';
import { RACP_UUID, type SessionCore } from '../session-core';

/** ATT 0xFE "Procedure Already In Progress" (GLS 1.0 table 4.x, CSS Part B 1.2) */
const ATT_PROCEDURE_IN_PROGRESS = /0xfe|already in progress/i;

/**
 * RACP "report stored records greater than the last sequence" (GLS 1.0 4.9.1; RACP has only
 * >=, so >= cursor+1), or all records on the first sync. The response code ends the transfer;
 * a dropped link ends the session and the next one resumes from the committed cursor.
 * No step timeout: the RACP wait runs from the last packet, so a long transfer is not cut short.
 */
export function racpSyncStep(core: SessionCore): SessionStep {
  return {
    name: 'racp.sync',
    kind: 'records',
    timeoutMs: 0,
    when: () => core.racpInUse,
    run: () => syncStoredRecords(core),
  };
}

async function syncStoredRecords(core: SessionCore): Promise<void> {
  const { d, conn, address } = core;
  const svc = core.driver.definition.characteristics.find((c) => c.characteristic === RACP_UUID)?.service;
  if (!svc) return;
  const cursor = core.cursor();
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
    core.racpWaiter = (r) => void responses.push(r);
    core.lastActivity = Date.now();
    try {
      await conn.write(svc, RACP_UUID, bytes);
    } catch (e) {
      core.racpWaiter = undefined;
      throw e;
    }
    if (ours) core.transfer = { next: from };
    const timeoutMs = d.racpTimeoutMs ?? 30_000;
    for (;;) {
      const mine = responses.find((r) => r.type === 'response_code' && r.requestOpCode === bytes[0]);
      if (mine) {
        core.racpWaiter = undefined;
        return mine;
      }
      if (core.disconnected || Date.now() - core.lastActivity > timeoutMs) {
        core.racpWaiter = undefined;
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let response: RacpResponse | undefined;
  try {
    response = await ask(request, true);
  } catch (e) {
    core.transfer = undefined;
    if (!ATT_PROCEDURE_IN_PROGRESS.test((e as Error).message)) throw e;
    // a transfer of an earlier connection is still running on the device: abort it, ask again
    d.log.info({ device: address, code: 'RACP_IN_PROGRESS' }, 'aborting a stale stored-record transfer');
    await ask(racpAbort(), false);
    response = await ask(request, true);
  }
  core.transfer = undefined;
  if (
    cursor !== undefined &&
    response?.type === 'response_code' &&
    response.status === 'no_records_found' &&
    (await renumbered(cursor))
  ) {
    // every record is new to us again: ask for all of them (their ids include the device time)
    from = 0;
    response = await ask(racpReportAllRecords(), true);
    core.transfer = undefined;
  }
  core.result.info.racp = response ?? { type: 'timeout' };
  if (!response)
    d.log.warn(
      { device: address, code: core.disconnected ? 'RACP_LINK_LOST' : 'RACP_TIMEOUT', cursor },
      'stored-record transfer did not complete',
    );
  else if (
    response.type === 'response_code' &&
    response.status !== 'success' &&
    response.status !== 'no_records_found'
  ) {
    d.log.warn({ device: address, code: 'RACP_FAILED', status: response.status }, 'stored-record request refused');
  }
  core.flush();
  // nothing more will come unsolicited: leave at once rather than wait out the idle time
  if (response) core.finish();

  /**
   * No record after the cursor: either nothing new, or the meter renumbered its records (memory
   * or battery reset: GLS 1.0 3.106 says sequence numbers never go back, real meters do), and
   * "greater than the cursor" would then miss every new record for ever. The last record
   * (RACP operator "last record", GLS 1.0 4.9.2) tells: a sequence below the cursor means
   * renumbered, and the cursor is forgotten in the buffer.
   */
  async function renumbered(after: number): Promise<boolean> {
    core.highestSequenceSeen = undefined;
    const last = await ask(encodeRacpRequest({ op: 'report', filter: 'last' }), false);
    core.flush();
    const highest = core.highestSequenceSeen as number | undefined;
    if (last?.type !== 'response_code' || last.status !== 'success' || highest === undefined || highest >= after)
      return false;
    d.log.warn(
      { device: address, code: 'RACP_SEQUENCE_RESET', cursor: after, lastSequence: highest },
      'the device renumbered its stored records; reading them all again',
    );
    core.flush({ deviceKey: address, renumbered: true });
    return true;
  }
}
