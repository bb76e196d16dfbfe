import {
  FRAME,
  OMRON_MODELS,
  OMRON_RX,
  OMRON_SERVICE,
  OMRON_TX,
  OMRON_UNLOCK,
  UNLOCK,
  decodeFrame,
  encodeFrame,
  encodeRecord,
  splitChannels,
  type OmronModel,
  type OmronRecord,
} from '../../../drivers/vendors/omron-protocol';
import { VirtualPeripheral, type PeripheralLink, type PeripheralSpec } from '../peripheral';
import { batteryService, deviceInformationService } from './common';
import { bloodPressurePacket } from './profiles';
import { RecordChannel } from './records';

export interface OmronCuffOptions extends Omit<PeripheralSpec, 'services' | 'advertisement' | 'name'> {
  /** DIS Model Number; its EEPROM map comes from drivers/vendors/omron-protocol.ts */
  model?: string;
  /** the 8 hex digits of the local name's model code */
  modelCode?: string;
  /** the cuff shows "-P-": key programming is accepted */
  pairingMode?: boolean;
  battery?: number;
  /** also serves the Blood Pressure Service: each new record is indicated on 0x2A35 too */
  bls?: boolean;
}

/**
 * An Omron HEM cuff with the vendor service, built from the protocol omblepy documents
 * (drivers/vendors/omron-protocol.ts): key programming only in pairing mode, unlock with the
 * programmed key, EEPROM frames over four TX/RX channels with XOR checksums, per-user ring
 * buffers and unread counters in the settings block (written at the settings write address,
 * read back at the read address). It requires bonding like the real cuffs.
 */
export class OmronCuff extends VirtualPeripheral {
  readonly map: OmronModel;
  readonly eeprom = new Uint8Array(0x1000).fill(0xff);
  pairingMode: boolean;
  key: Uint8Array | undefined;
  /** decoded commands received, in order (what the gateway asked) */
  readonly commands: { type: number; address: number; length: number }[] = [];
  /** commands to leave unanswered (a lost reply the central must resend) */
  dropReplies = 0;
  /** BLS copies of the records, indicated on subscription (models that serve both) */
  readonly blsChannel: RecordChannel | undefined;
  private link: PeripheralLink | undefined;
  private programming = false;
  private unlocked = false;
  private pieces: (Uint8Array | undefined)[] = [];

  constructor(opts: OmronCuffOptions) {
    const model = opts.model ?? 'HEM-7322T';
    const map = OMRON_MODELS.find((m) => m.models.some((p) => model.startsWith(p)));
    if (!map) throw new Error(`no documented EEPROM map for ${model}`);
    const pairingMode = opts.pairingMode ?? false;
    super({
      ...opts,
      name: OmronCuff.localName(opts.address, opts.modelCode ?? '0000011f', pairingMode),
      requiresBonding: opts.requiresBonding ?? true,
    });
    this.map = map;
    this.pairingMode = pairingMode;
    this.blsChannel = opts.bls ? new RecordChannel('1810', '2a35', { intervalMs: 5 }) : undefined;
    this.modelCode = opts.modelCode ?? '0000011f';
    const tx = OMRON_TX.map((uuid, i) => ({
      uuid,
      flags: ['write' as const, 'write-without-response' as const],
      onWrite: (v: Uint8Array, link: PeripheralLink) => this.onPiece(i, v, link),
    }));
    const rx = OMRON_RX.map((uuid) => ({ uuid, flags: ['notify' as const] }));
    this.services = [
      {
        uuid: OMRON_SERVICE,
        characteristics: [
          { uuid: OMRON_UNLOCK, flags: ['write', 'notify'], onWrite: (v, link) => this.onUnlock(v, link) },
          ...tx,
          ...rx,
        ],
      },
      ...(opts.bls
        ? [
            {
              uuid: '1810',
              characteristics: [
                {
                  uuid: '2a35',
                  flags: ['indicate' as const],
                  onSubscribe: (l: PeripheralLink) => this.blsChannel?.flush(l),
                },
              ],
            },
          ]
        : []),
      deviceInformationService({ manufacturer: 'OMRON HEALTHCARE', model }),
      batteryService({ battery: opts.battery ?? 80 }),
    ];
    // a fresh cuff: every ring empty, no record unread
    for (let u = 0; u < map.userStart.length; u++) this.setCounters(u, 0, 0);
  }
  private readonly modelCode: string;

  /** "BLESmart_" + model code + address; "BLEsmart_" while in pairing mode (SpeziDevices OmronLocalName) */
  static localName(address: string, modelCode: string, pairing: boolean): string {
    return `${pairing ? 'BLEsmart_' : 'BLESmart_'}${modelCode}${address.replace(/:/g, '')}`;
  }

  setPairingMode(on: boolean): void {
    this.pairingMode = on;
    this.setAdvertisement({ name: OmronCuff.localName(this.address, this.modelCode, on) });
  }

  private get endian() {
    return this.map.record.endian;
  }

  private word(at: number, value: number): void {
    const [hi, lo] = [(value >> 8) & 0xff, value & 0xff];
    this.eeprom[at] = this.endian === 'big' ? hi : lo;
    this.eeprom[at + 1] = this.endian === 'big' ? lo : hi;
  }

  private readWord(at: number): number {
    const a = this.eeprom[at] ?? 0;
    const b = this.eeprom[at + 1] ?? 0;
    return this.endian === 'big' ? (a << 8) | b : (b << 8) | a;
  }

  private setCounters(user: number, nextSlot: number, unread: number): void {
    const base = this.map.settingsRead + this.map.unreadBytes[0];
    this.word(base + 2 * user, nextSlot);
    this.word(base + 4 + 2 * user, unread === 0 ? 0x8000 : unread);
  }

  /** what the settings block says of a user: next ring slot and unread records */
  counters(user: number): { nextSlot: number; unread: number } {
    const base = this.map.settingsRead + this.map.unreadBytes[0];
    return { nextSlot: this.readWord(base + 2 * user) & 0xff, unread: this.readWord(base + 4 + 2 * user) & 0xff };
  }

  /** a measurement taken by user 1 or 2: stored in its ring, counted unread */
  addRecord(
    user: 1 | 2,
    r: Partial<OmronRecord> & Pick<OmronRecord, 'systolic' | 'diastolic' | 'pulse' | 'deviceTime'>,
  ): void {
    const u = user - 1;
    const start = this.map.userStart[u];
    if (start === undefined) throw new Error(`the ${this.map.models[0] ?? 'cuff'} has no user ${user}`);
    const { nextSlot, unread } = this.counters(u);
    const bytes = encodeRecord(
      { movement: false, irregularHeartbeat: false, ...r },
      this.map.record,
      this.map.recordSize,
    );
    this.eeprom.set(bytes, start + nextSlot * this.map.recordSize);
    this.setCounters(u, (nextSlot + 1) % this.map.recordsPerUser, Math.min(unread + 1, this.map.recordsPerUser));
    const live = this.link?.up && this.link.subscribed('1810', '2a35') ? this.link : undefined;
    this.blsChannel?.add(
      bloodPressurePacket({
        systolic: r.systolic,
        diastolic: r.diastolic,
        pulse: r.pulse,
        userId: user,
        time: new Date(`${r.deviceTime}Z`),
      }),
      live,
    );
  }

  override onConnected(link: PeripheralLink): void {
    this.link = link;
    this.unlocked = false;
    this.programming = false;
    this.pieces = [];
  }

  override onDisconnected(): void {
    this.link = undefined;
    this.blsChannel?.reset();
  }

  private onUnlock(v: Uint8Array, link: PeripheralLink): void {
    const reply = (code: number, ok: boolean) => {
      link.later(5, () =>
        link.notify(OMRON_SERVICE, OMRON_UNLOCK, Uint8Array.from([code, ok ? 0 : 1, ...new Uint8Array(14)])),
      );
    };
    const [op] = v;
    const key = v.subarray(1);
    if (op === UNLOCK.enterProgramming) {
      this.programming = this.pairingMode;
      reply(UNLOCK.enterProgrammingOk, this.pairingMode);
    } else if (op === UNLOCK.program) {
      const ok = this.programming && key.length === 16;
      if (ok) {
        this.key = Uint8Array.from(key);
        this.programming = false;
        // the cuff leaves pairing mode once programmed ("-P-" turns into a square)
        this.setPairingMode(false);
      }
      reply(UNLOCK.programOk, ok);
    } else if (op === UNLOCK.unlock) {
      this.unlocked = this.key !== undefined && Buffer.from(key).equals(Buffer.from(this.key));
      reply(UNLOCK.unlockOk, this.unlocked);
    }
  }

  /** one 16-octet piece of a command on TX channel `channel` */
  private onPiece(channel: number, v: Uint8Array, link: PeripheralLink): void {
    this.pieces[channel] = Uint8Array.from(v);
    const first = this.pieces[0];
    if (!first) return;
    const length = first[0] ?? 0;
    const needed = Math.max(1, Math.ceil(length / 16));
    const parts = this.pieces.slice(0, needed);
    if (parts.length < needed || parts.some((p) => p === undefined)) return;
    this.pieces = [];
    const frame = Uint8Array.from(parts.flatMap((p) => [...(p ?? [])])).subarray(0, length);
    let cmd;
    try {
      cmd = decodeFrame(frame);
    } catch {
      return; // a garbled command gets no reply; the central resends
    }
    const declared = frame[5] ?? 0;
    this.commands.push({ type: cmd.type, address: cmd.address, length: declared });
    // every EEPROM command needs the unlock (and the start after a key programming is allowed)
    if (!this.unlocked && !(cmd.type === FRAME.start || cmd.type === FRAME.end)) return;
    if (this.dropReplies > 0) {
      this.dropReplies--;
      return;
    }
    const send = (reply: Uint8Array) => {
      splitChannels(reply).forEach((piece, i) => {
        link.later(2 + i, () => link.notify(OMRON_SERVICE, OMRON_RX[i] ?? OMRON_RX[0], piece));
      });
    };
    if (cmd.type === FRAME.start) send(encodeFrame(FRAME.startReply, 0, new Uint8Array(16)));
    else if (cmd.type === FRAME.end) send(encodeFrame(FRAME.endReply, 0, new Uint8Array(0)));
    else if (cmd.type === FRAME.read)
      send(encodeFrame(FRAME.readReply, cmd.address, this.eeprom.slice(cmd.address, cmd.address + declared)));
    else if (cmd.type === FRAME.write) {
      this.eeprom.set(cmd.data, cmd.address);
      // the settings written at the write address are what the read address shows afterwards
      const m = this.map;
      const span = m.settingsWrite - m.settingsRead;
      if (cmd.address >= m.settingsWrite && cmd.address < m.settingsWrite + span)
        this.eeprom.set(cmd.data, cmd.address - span);
      send(encodeFrame(FRAME.writeReply, cmd.address, cmd.data));
    }
  }
}
