import { randomBytes } from 'node:crypto';
import { battery } from '../common/battery';
import { deviceInformation } from '../common/device-information';
import { decodeWithQuirks } from '../common/quirk-registry';
import { defineDriver } from '../sdk/compose';
import type { Driver, Measurement } from '../sdk/definition';
import { StepError, defineSession, type SessionIo, type SessionStep } from '../sdk/session';
import { decodeBloodPressure } from '../standard/blood-pressure';
import {
  FRAME,
  FrameAssembler,
  OMRON_NAME_PATTERN,
  OMRON_RX,
  OMRON_SERVICE,
  OMRON_TX,
  OMRON_UNLOCK,
  OmronFrameError,
  UNLOCK,
  acknowledgeUnread,
  decodeFrame,
  decodeRecord,
  decodeUnread,
  endFrame,
  omronModel,
  readFrame,
  ringReads,
  splitChannels,
  startFrame,
  writeFrame,
  type OmronFrame,
  type OmronModel,
  type OmronRecord,
} from './omron-protocol';

/**
 * Omron HEM-xxxxT cuffs through the vendor service (protocol facts: drivers/vendors/omron-protocol.ts,
 * documented by omblepy and UBPM). One connection:
 *
 *   gatt.read          battery, Device Information (the DIS Model Number picks the EEPROM map)
 *   cts.read-offset    the device clock offset when it serves Current Time
 *   omron.identify     vendor service present? EEPROM map of this model known?
 *   omron.subscribe    the unlock characteristic and the four receive channels
 *   omron.program-key  pairing window only: key programming mode, then a fresh random 16-octet key
 *   omron.unlock       the stored key (a cuff refuses every EEPROM command before it)
 *   bls.subscribe      Blood Pressure Measurement indications, when the model also serves BLS
 *   omron.start        start of transmission
 *   omron.read-records per user: everything on the first session, then the records the cuff
 *                      counts as not yet sent, newer than the committed per-user cursor
 *   omron.acknowledge  only after the commit: unread counters set to "already sent"
 *   omron.end          end of transmission
 *
 * The key is kept with the pairing (io.state) and forgotten at unpair. A cuff of an undocumented
 * model is never written to (its settings block may hold the pressure sensor's calibration,
 * omblepy README): only its BLS measurements are read.
 */

const DIS = { service: '180a', modelNumber: '2a24' };
const BLS = { service: '1810', measurement: '2a35' };
/** a lost reply is asked again this many times (omblepy resends up to 5 times) */
const COMMAND_ATTEMPTS = 4;
const REPLY_TIMEOUT_MS = 3_000;

/** what the steps of one connection share (keyed by the session's io; nothing outlives it) */
interface OmronSession {
  vendor: boolean;
  model: OmronModel | undefined;
  bls: boolean;
  link: OmronLink | undefined;
  unreadBlock: Uint8Array | undefined;
}
const sessions = new WeakMap<SessionIo, OmronSession>();
function session(io: SessionIo): OmronSession {
  let s = sessions.get(io);
  if (!s) {
    s = { vendor: false, model: undefined, bls: false, link: undefined, unreadBlock: undefined };
    sessions.set(io, s);
  }
  return s;
}

/** command/reply over the four TX/RX channels, frames reassembled by a listener */
class OmronLink {
  private readonly assembler = new FrameAssembler();
  private frames: Uint8Array[] = [];

  constructor(private readonly io: SessionIo) {}

  async open(): Promise<void> {
    for (const [i, c] of OMRON_RX.entries()) {
      this.io.listen(c, (v) => {
        const frame = this.assembler.push(i, v);
        if (frame) this.frames.push(frame);
      });
      await this.io.subscribe(OMRON_SERVICE, c);
    }
    await this.io.subscribe(OMRON_SERVICE, OMRON_UNLOCK);
  }

  /** writes a command and returns its reply; a lost or garbled reply is asked again */
  async transact(command: Uint8Array, replyType: number, address?: number): Promise<OmronFrame> {
    for (let attempt = 1; ; attempt++) {
      this.frames = [];
      this.assembler.reset();
      // registered before the write: a reply cannot slip past
      const first = this.io.expect(OMRON_RX[0], () => true, REPLY_TIMEOUT_MS);
      try {
        for (const [i, piece] of splitChannels(command).entries())
          await this.io.write(OMRON_SERVICE, OMRON_TX[i] ?? OMRON_TX[0], piece);
        await first;
        for (;;) {
          const missing = this.assembler.missing();
          if (this.frames.length || !missing.length) break;
          await this.io.expect(OMRON_RX[missing[missing.length - 1] ?? 0] ?? OMRON_RX[0], () => true, REPLY_TIMEOUT_MS);
        }
        const raw = this.frames.shift();
        if (!raw) throw new OmronFrameError('OMRON_FRAME', 'no whole frame');
        const reply = decodeFrame(raw);
        if (reply.type !== replyType || (address !== undefined && reply.address !== address))
          throw new OmronFrameError('OMRON_FRAME', `reply ${reply.type.toString(16)} @${reply.address.toString(16)}`);
        return reply;
      } catch (e) {
        first.catch(() => undefined);
        const resendable = (e instanceof StepError && e.code === 'STEP_TIMEOUT') || e instanceof OmronFrameError;
        if (!resendable || attempt >= COMMAND_ATTEMPTS) throw e;
        this.io.log('info', 'OMRON_RESEND', { attempt, reason: (e as Error).message });
      }
    }
  }

  /** `length` octets of EEPROM from `address`, in reads of at most `block` */
  async read(address: number, length: number, block: number): Promise<Uint8Array> {
    const out: number[] = [];
    for (let at = address, left = length; left > 0;) {
      const n = Math.min(block, left);
      const reply = await this.transact(readFrame(at, n), FRAME.readReply, at);
      if (reply.data.length !== n) throw new StepError('OMRON_SHORT_READ', `asked ${n} octets at ${at}`);
      out.push(...reply.data);
      at += n;
      left -= n;
    }
    return Uint8Array.from(out);
  }

  async write(address: number, data: Uint8Array): Promise<void> {
    await this.transact(writeFrame(address, data), FRAME.writeReply, address);
  }
}

const linkOf = (io: SessionIo): OmronLink => {
  const l = session(io).link;
  if (!l) throw new StepError('OMRON_NOT_SUBSCRIBED', 'the receive channels are not open');
  return l;
};
const vendorReady = (io: SessionIo) => session(io).vendor && session(io).model !== undefined;

/** the unlock characteristic's reply to one write */
async function unlockCommand(io: SessionIo, command: number, payload: Uint8Array): Promise<number> {
  const reply = io.expect(OMRON_UNLOCK, () => true, REPLY_TIMEOUT_MS);
  try {
    await io.write(OMRON_SERVICE, OMRON_UNLOCK, Uint8Array.from([command, ...payload]));
  } catch (e) {
    reply.catch(() => undefined);
    throw e;
  }
  const v = await reply;
  // [reply code][status]: status 0 is success
  return v[1] === 0 ? (v[0] ?? -1) : -1;
}

const identify: SessionStep = {
  name: 'omron.identify',
  kind: 'read',
  async run(io) {
    const s = session(io);
    s.vendor = await io.has(OMRON_SERVICE, OMRON_UNLOCK);
    if (await io.has(DIS.service, DIS.modelNumber)) {
      const model = Buffer.from(await io.read(DIS.service, DIS.modelNumber)).toString('utf8');
      s.model = omronModel(model);
      if (s.vendor && !s.model) io.log('warn', 'OMRON_MODEL_UNKNOWN', { model });
    }
  },
};

const subscribe: SessionStep = {
  name: 'omron.subscribe',
  kind: 'subscribe',
  when: (io) => session(io).vendor,
  async run(io) {
    const link = new OmronLink(io);
    session(io).link = link;
    await link.open();
  },
};

const programKey: SessionStep = {
  name: 'omron.program-key',
  kind: 'handshake',
  when: (io) => session(io).vendor && io.pairing,
  timeoutMs: 30_000,
  async run(io) {
    // the cuff answers 0x82 0x00 only while it shows "-P-" (bluetooth key held); BLE bonding may
    // still be completing, so a refusal is asked again a few times (omblepy: up to 10)
    let entered = false;
    for (let attempt = 0; attempt < 3 && !entered; attempt++)
      entered = (await unlockCommand(io, UNLOCK.enterProgramming, new Uint8Array(16))) === UNLOCK.enterProgrammingOk;
    if (!entered) {
      if (io.state.get('key') !== undefined) return; // programmed before, not in "-P-" now: keep the key
      throw new StepError('NEEDS_PAIRING_MODE', 'hold the cuff bluetooth key until "-P-" blinks, then pair again');
    }
    const key = randomBytes(16);
    if ((await unlockCommand(io, UNLOCK.program, key)) !== UNLOCK.programOk)
      throw new StepError('KEY_REFUSED', 'the cuff refused the new key');
    io.state.set('key', key.toString('hex'));
    io.log('info', 'OMRON_KEY_PROGRAMMED');
  },
};

const unlock: SessionStep = {
  name: 'omron.unlock',
  kind: 'unlock',
  when: (io) => session(io).vendor,
  retries: 1,
  async run(io) {
    const key = io.state.get('key');
    if (key === undefined) throw new StepError('NOT_PROGRAMMED', 'no key for this cuff: pair it in a pairing window');
    if ((await unlockCommand(io, UNLOCK.unlock, Buffer.from(key, 'hex'))) !== UNLOCK.unlockOk)
      throw new StepError('UNLOCK_REFUSED', 'the cuff refused the key (reset or paired elsewhere): pair it again');
  },
};

const blsSubscribe: SessionStep = {
  name: 'bls.subscribe',
  kind: 'subscribe',
  optional: true,
  async run(io) {
    if (!(await io.has(BLS.service, BLS.measurement))) return;
    await io.subscribe(BLS.service, BLS.measurement);
    session(io).bls = true;
  },
};

const start: SessionStep = {
  name: 'omron.start',
  kind: 'handshake',
  when: vendorReady,
  timeoutMs: 0,
  run: (io) => linkOf(io).transact(startFrame(), FRAME.startReply),
};

/**
 * local device time as seconds: the per-user cursor (records carry no sequence number). It marks
 * that a user was read once and how far; what to read next is the cuff's unread counter.
 */
const secondsOf = (deviceTime: string) => Math.floor(Date.parse(`${deviceTime}Z`) / 1000);

function measurementsOf(r: OmronRecord, user: number): Measurement[] {
  const flags = [...(r.movement ? ['body_movement'] : []), ...(r.irregularHeartbeat ? ['irregular_pulse'] : [])];
  const common = { deviceTime: r.deviceTime, userIndex: user, flags };
  return [
    { metric: 'blood_pressure_systolic', value: r.systolic, unit: 'mm[Hg]', ...common },
    { metric: 'blood_pressure_diastolic', value: r.diastolic, unit: 'mm[Hg]', ...common },
    { metric: 'heart_rate', value: r.pulse, unit: '/min', ...common },
  ];
}

const readRecords: SessionStep = {
  name: 'omron.read-records',
  kind: 'records',
  when: vendorReady,
  timeoutMs: 0,
  async run(io) {
    const s = session(io);
    const model = s.model;
    if (!model) return;
    const link = linkOf(io);
    const [from, to] = model.unreadBytes;
    const block = await link.read(model.settingsRead + from, to - from, to - from);
    s.unreadBlock = block;
    const counters = decodeUnread(block, model.userStart.length, model.record.endian);
    for (const [u, counter] of counters.entries()) {
      const key = `user${u + 1}`;
      const cursor = io.cursor(key);
      // first session: the whole ring (history before pairing); then what the cuff counts as unread
      const reads =
        cursor === undefined
          ? [[model.userStart[u] ?? 0, model.recordsPerUser * model.recordSize] as [number, number]]
          : ringReads(model, u, counter.unread, counter.nextSlot);
      const records: { r: OmronRecord; raw: Uint8Array }[] = [];
      for (const [address, length] of reads) {
        const bytes = await link.read(address, length, model.blockSize);
        for (let at = 0; at + model.recordSize <= bytes.length; at += model.recordSize) {
          const raw = bytes.subarray(at, at + model.recordSize);
          const r = decodeRecord(raw, model.record);
          if (r) records.push({ r, raw: Uint8Array.from(raw) });
        }
      }
      records.sort((a, b) => secondsOf(a.r.deviceTime) - secondsOf(b.r.deviceTime));
      // The cuff's unread counter says what is new, not the time: a cuff whose clock was reset
      // (batteries) stamps new records earlier than old ones, and they must not be skipped. A
      // crash between commit and acknowledgement sends records again: their reading ids (user,
      // device time, value) are the same, and the buffer keeps one.
      for (const { r, raw } of records)
        io.commit(measurementsOf(r, u + 1), raw, { key, value: Math.max(cursor ?? 0, secondsOf(r.deviceTime)) });
      // an empty user still gets a cursor: the next session reads only what the cuff counts as new
      if (cursor === undefined && records.length === 0) io.commit([], new Uint8Array(), { key, value: 0 });
      io.log('debug', 'OMRON_USER_READ', { user: u + 1, records: records.length });
    }
  },
};

const acknowledge: SessionStep = {
  name: 'omron.acknowledge',
  kind: 'ack',
  when: vendorReady,
  timeoutMs: 0,
  async run(io) {
    const { model, unreadBlock } = session(io);
    if (!model || !unreadBlock) return;
    const endian = model.record.endian;
    // only when something was unread: an EEPROM write is not free
    if (decodeUnread(unreadBlock, model.userStart.length, endian).every((c) => c.unread === 0)) return;
    await linkOf(io).write(model.settingsWrite + model.unreadBytes[0], acknowledgeUnread(unreadBlock, endian));
  },
};

const end: SessionStep = {
  name: 'omron.end',
  kind: 'disconnect',
  when: vendorReady,
  timeoutMs: 0,
  async run(io) {
    const reply = await linkOf(io).transact(endFrame(), FRAME.endReply);
    if ((reply.data[0] ?? 0) !== 0) io.log('warn', 'OMRON_END_STATUS', { status: reply.data[0] });
    // a cuff that also serves BLS may still indicate: wait for silence then
    if (!session(io).bls) io.finish();
  },
};

export const omronDriver: Driver = defineDriver(
  {
    definition: {
      id: 'omron-hem',
      vendor: 'Omron Healthcare',
      models: [
        'HEM-7322T (M700 Intelli IT)',
        'HEM-7361T (M500/M7 Intelli IT)',
        'HEM-7155T (M400/M4)',
        'HEM-7600T (Evolv)',
      ],
      description:
        'Omron BLESmart cuffs: vendor key programming and unlock, per-user EEPROM memory with unread counters, BLS when served',
      match: { namePattern: OMRON_NAME_PATTERN },
      priority: 10,
      linkMode: 'connect',
      capabilities: { storedRecords: true, multiUser: true },
      metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic', 'blood_pressure_mean', 'heart_rate'],
      characteristics: [
        { service: OMRON_SERVICE, characteristic: OMRON_UNLOCK, access: 'notify', required: false },
        ...OMRON_TX.map((c) => ({
          service: OMRON_SERVICE,
          characteristic: c,
          access: 'write' as const,
          required: false,
        })),
        ...OMRON_RX.map((c) => ({
          service: OMRON_SERVICE,
          characteristic: c,
          access: 'notify' as const,
          required: false,
        })),
        { service: BLS.service, characteristic: BLS.measurement, access: 'indicate', required: false },
      ],
      quirks: ['vendor_protocol'],
      bonding: 'required',
    },
    decoders: {
      '2a35': (bytes, ctx) => decodeWithQuirks('2a35', bytes, ctx, (b) => decodeBloodPressure(b)),
    },
    session: defineSession(
      'gatt.read',
      'cts.read-offset',
      identify,
      subscribe,
      programKey,
      unlock,
      blsSubscribe,
      start,
      readRecords,
      acknowledge,
      end,
    ),
  },
  battery(),
  deviceInformation(),
);
