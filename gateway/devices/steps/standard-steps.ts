import { encodeCurrentTime, localTimeOf, type CurrentTime } from '../../../drivers';
import type { SessionStep, StandardStepName } from '../../../drivers/sdk/session';
import { localToUtc } from '../../time/local-time';
import type { SessionCore } from '../session-core';
import { racpSyncStep } from './racp-sync';

const CTS = { service: '1805', characteristic: '2a2b' };

/**
 * Current Time (CTS 1.1 3.1): read first, to measure the device clock offset before any stored
 * record is decoded (records are corrected with the offset they were taken with).
 */
function ctsReadOffset(core: SessionCore): SessionStep {
  return {
    name: 'cts.read-offset',
    kind: 'time',
    optional: true,
    async run() {
      if (!(await core.has(CTS.service, CTS.characteristic).catch(() => false))) return;
      const before = Date.now();
      const bytes = await core.read(CTS.service, CTS.characteristic);
      // the device read its clock somewhere during the round trip: compare with the midpoint
      const gatewayNow = (before + Date.now()) / 2;
      const decoded = core.d.registry.decode(core.driverId, CTS.characteristic, bytes, core.address);
      const ct = decoded.ok ? (decoded.result.info?.currentTime as CurrentTime | undefined) : undefined;
      if (!ct?.deviceTime) return;
      // Exact Time 256 fractions (CTS 1.1 3.1) refine the second; the offset is kept in whole
      // seconds, the resolution of the time stamps it corrects (GSS Date Time)
      const deviceMs = localToUtc(ct.deviceTime, core.timeZone).getTime() + Math.floor((ct.fractions256 * 1000) / 256);
      const offset = Math.round((deviceMs - gatewayNow) / 1000) * 1000;
      // CTS has 1 s resolution (Exact Time 256 fractions are optional): within 2 s the clock is right
      core.clockOffsetMs = Math.abs(offset) < 2_000 ? 0 : offset;
    },
  };
}

/**
 * Current Time write (CTS 1.1 3.1: the client may write it when the server permits), before
 * subscribing: a device that sends its measurement and drops the link at once (many cuffs do)
 * would otherwise never get its clock set. Failures are not fatal.
 */
function ctsWrite(core: SessionCore): SessionStep {
  return {
    name: 'cts.write',
    kind: 'time',
    optional: true,
    when: () => core.driver.definition.capabilities.timeSync,
    async run() {
      if (!(await core.has(CTS.service, CTS.characteristic).catch(() => false))) return;
      await core.write(
        CTS.service,
        CTS.characteristic,
        encodeCurrentTime({
          ...localTimeOf(new Date(), core.timeZone),
          adjustReason: ['external_reference_time_update'],
        }),
      );
      core.result.info.clockSet = true;
    },
  };
}

/** presence of a declared characteristic; a required one missing ends the session NOT_SUPPORTED */
async function present(core: SessionCore, c: { service: string; characteristic: string; required: boolean }) {
  if (await core.has(c.service, c.characteristic)) return true;
  if (c.required)
    throw Object.assign(new Error(`device lacks required characteristic ${c.characteristic}`), {
      code: 'NOT_SUPPORTED',
    });
  return false;
}

const isCts = (c: { service: string; characteristic: string }) =>
  c.service === CTS.service && c.characteristic === CTS.characteristic;

function gattRead(core: SessionCore): SessionStep {
  return {
    name: 'gatt.read',
    kind: 'read',
    async run() {
      for (const c of core.driver.definition.characteristics) {
        if (isCts(c) || c.access !== 'read' || !(await present(core, c))) continue;
        core.handle(c.characteristic, await core.read(c.service, c.characteristic));
      }
    },
  };
}

function gattSubscribe(core: SessionCore): SessionStep {
  return {
    name: 'gatt.subscribe',
    kind: 'subscribe',
    async run() {
      for (const c of core.driver.definition.characteristics) {
        if (isCts(c)) continue;
        // a write-only command characteristic is checked here too: a required one missing is fatal
        if (c.access === 'write' || c.access === 'read') {
          if (c.access === 'write') await present(core, c);
          continue;
        }
        if (await present(core, c)) await core.subscribe(c.service, c.characteristic);
      }
    },
  };
}

function gattStartCommands(core: SessionCore): SessionStep {
  return {
    name: 'gatt.start-commands',
    kind: 'handshake',
    async run() {
      for (const c of core.driver.definition.characteristics)
        if (c.writeOnConnect) await core.write(c.service, c.characteristic, Buffer.from(c.writeOnConnect, 'hex'));
    },
  };
}

/** the standard step packs of the SIG profiles, bound to one session */
export function standardStep(name: StandardStepName, core: SessionCore): SessionStep {
  switch (name) {
    case 'cts.read-offset':
      return ctsReadOffset(core);
    case 'cts.write':
      return ctsWrite(core);
    case 'gatt.read':
      return gattRead(core);
    case 'gatt.subscribe':
      return gattSubscribe(core);
    case 'gatt.start-commands':
      return gattStartCommands(core);
    case 'racp.sync':
      return racpSyncStep(core);
  }
}
