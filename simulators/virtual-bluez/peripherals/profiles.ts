import { encodeSfloat } from '../../../drivers/codecs/ieee11073';
import {
  encodeGlucoseContext,
  encodeGlucoseMeasurement,
  encodeHeartRate,
  encodePlxSpotCheck,
  encodeTemperatureMeasurement,
  encodeWeightMeasurement,
} from '../../../drivers/encoders';
import { AttError, VirtualPeripheral, type PeripheralLink, type PeripheralSpec, type ServiceSpec } from '../peripheral';
import { batteryService, currentTimeService, dateTimeBytes, dateTimeFields, deviceInformationService } from './common';
import { RecordChannel } from './records';

/** Options every profile device shares. */
export interface DeviceOptions extends Omit<PeripheralSpec, 'services' | 'advertisement'> {
  manufacturer?: string;
  model?: string;
  serial?: string;
  battery?: number;
  /** ms between two stored records sent back to back */
  recordIntervalMs?: number;
  /** resend every stored record on each connection (memory never cleared, openScale #633) */
  resendAll?: boolean;
}

const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];

/**
 * A device whose measurements are stored and sent by indication/notification on one
 * characteristic when the client subscribes to it.
 */
export class RecordDevice extends VirtualPeripheral {
  battery: number;
  protected link: PeripheralLink | undefined;
  readonly channel: RecordChannel;

  constructor(
    opts: DeviceOptions,
    main: { service: string; characteristic: string; advertise: string[] },
    services: (self: RecordDevice) => ServiceSpec[],
  ) {
    super({ ...opts, advertisement: { serviceUuids: main.advertise } });
    this.battery = opts.battery ?? 87;
    this.channel = new RecordChannel(main.service, main.characteristic, {
      intervalMs: opts.recordIntervalMs,
      resendAll: opts.resendAll,
    });
    this.services = [
      ...services(this),
      deviceInformationService({
        manufacturer: opts.manufacturer ?? 'Vigil Virtual Devices',
        model: opts.model ?? this.constructor.name,
        serial: opts.serial ?? opts.address.replace(/:/g, ''),
        firmware: '1.0.0',
      }),
      batteryService(this),
    ];
  }

  /** stores a raw measurement packet; sent now if the client is subscribed, else at next sync */
  addPacket(bytes: Uint8Array): void {
    this.channel.add(
      bytes,
      this.link?.up && this.link.subscribed(this.channel.service, this.channel.characteristic) ? this.link : undefined,
    );
  }

  /** the onSubscribe handler of the record characteristic */
  sendStored = (link: PeripheralLink): void => this.channel.flush(link);

  override onConnected(link: PeripheralLink): void {
    this.link = link;
  }

  override onDisconnected(): void {
    this.link = undefined;
    this.channel.reset();
  }
}

// ---------------------------------------------------------------------------------------------

export interface BpReading {
  systolic: number;
  diastolic: number;
  /** mean arterial pressure; default (sys + 2 dia) / 3 rounded */
  map?: number;
  pulse?: number;
  userId?: number;
  /** GSS 3.31.2.7 Measurement Status bits */
  status?: number;
  /** device-local time (UTC fields); default the device clock now, i.e. wrong if the clock is */
  time?: Date | null;
  kpa?: boolean;
}

/** Blood Pressure Measurement 0x2A35 (GSS 3.31) built from the codecs' SFLOAT / Date Time encoders. */
export function bloodPressurePacket(r: BpReading): Uint8Array {
  let flags = r.kpa ? 0x01 : 0;
  const tail: number[] = [];
  if (r.time) {
    flags |= 0x02;
    tail.push(...dateTimeBytes(r.time));
  }
  if (r.pulse !== undefined) {
    flags |= 0x04;
    tail.push(...u16(encodeSfloat(r.pulse)));
  }
  if (r.userId !== undefined) {
    flags |= 0x08;
    tail.push(r.userId);
  }
  if (r.status !== undefined) {
    flags |= 0x10;
    tail.push(...u16(r.status));
  }
  const map = r.map ?? Math.round((r.systolic + 2 * r.diastolic) / 3);
  const exp = r.kpa ? -1 : 0;
  return Uint8Array.from([
    flags,
    ...u16(encodeSfloat(r.systolic, exp)),
    ...u16(encodeSfloat(r.diastolic, exp)),
    ...u16(encodeSfloat(map, exp)),
    ...tail,
  ]);
}

/** Blood Pressure Service 0x1810 cuff (BLS 1.1) with Current Time Service; stored records by indication. */
export class BloodPressureCuff extends RecordDevice {
  constructor(opts: DeviceOptions) {
    super(opts, { service: '1810', characteristic: '2a35', advertise: ['1810'] }, (self) => [
      {
        uuid: '1810',
        characteristics: [
          { uuid: '2a35', flags: ['indicate'], onSubscribe: (l) => self.sendStored(l) },
          // BP Feature: body movement, cuff fit, irregular pulse, pulse range, position, multiple bond (BLS 3.3)
          { uuid: '2a49', flags: ['read'], value: Uint8Array.of(0x3f, 0x00) },
        ],
      },
      currentTimeService(self),
    ]);
  }

  /** takes (or stores) a measurement; time defaults to the device clock */
  addReading(r: BpReading): Uint8Array {
    const bytes = bloodPressurePacket({ ...r, time: r.time === undefined ? this.deviceTime() : r.time });
    this.addPacket(bytes);
    return bytes;
  }
}

/** Weight Scale Service 0x181D (WSS 1.0) + User Data Service 0x181C user index; packets as bytes. */
export class WeightScale extends RecordDevice {
  /** the user index currently selected on the scale (UDS 0x2A9A); 0xFF = unknown user */
  userIndex = 0xff;
  constructor(opts: DeviceOptions & { users?: number[] }) {
    super(opts, { service: '181d', characteristic: '2a9d', advertise: ['181d'] }, (self) => [
      {
        uuid: '181d',
        characteristics: [
          { uuid: '2a9d', flags: ['indicate'], onSubscribe: (l) => self.sendStored(l) },
          // Weight Scale Feature: time stamp, multiple users, BMI; resolution 0.005 kg (WSS 3.1)
          { uuid: '2a9e', flags: ['read'], value: Uint8Array.of(0x0f, 0x00, 0x00, 0x00) },
        ],
      },
      {
        uuid: '181c',
        characteristics: [
          {
            uuid: '2a9a',
            flags: ['read'],
            onRead: () => {
              if (!(self instanceof WeightScale)) throw new Error('UDS User Index read on a device that is no scale');
              return Uint8Array.of(self.userIndex);
            },
          },
        ],
      },
      currentTimeService(self),
    ]);
    this.users = opts.users ?? [1, 2];
  }
  users: number[];

  /** a weighing (WSS 0x2A9D via drivers/encoders); time defaults to the device clock, null: no time stamp */
  addReading(r: { weight: number; userId?: number; time?: Date | null; bmi?: number; height?: number }): Uint8Array {
    const time = r.time === undefined ? this.deviceTime() : r.time;
    const bytes = encodeWeightMeasurement({
      weight: r.weight,
      ...(time ? { timeStamp: dateTimeFields(time) } : {}),
      ...(r.userId !== undefined ? { userId: r.userId } : {}),
      ...(r.bmi !== undefined ? { bmi: r.bmi, height: r.height } : {}),
    });
    this.addPacket(bytes);
    return bytes;
  }
}

/** Health Thermometer Service 0x1809 (HTS 1.0): 0x2A1C by indication; packets as bytes. */
export class Thermometer extends RecordDevice {
  constructor(opts: DeviceOptions) {
    super(opts, { service: '1809', characteristic: '2a1c', advertise: ['1809'] }, (self) => [
      {
        uuid: '1809',
        characteristics: [
          { uuid: '2a1c', flags: ['indicate'], onSubscribe: (l) => self.sendStored(l) },
          { uuid: '2a1d', flags: ['read'], value: Uint8Array.of(0x02) }, // Temperature Type: body (HTS 3.2)
        ],
      },
      currentTimeService(self),
    ]);
  }

  /** a body temperature (HTS 0x2A1C, degC); time defaults to the device clock */
  addReading(r: { celsius: number; time?: Date | null }): Uint8Array {
    const time = r.time === undefined ? this.deviceTime() : r.time;
    const bytes = encodeTemperatureMeasurement({
      value: r.celsius,
      exponent: -1,
      ...(time ? { timeStamp: dateTimeFields(time) } : {}),
    });
    this.addPacket(bytes);
    return bytes;
  }
}

/** Pulse Oximeter Service 0x1822 (PLXS 1.0): spot-check 0x2A5E by indication, continuous 0x2A5F by notification. */
export class Oximeter extends RecordDevice {
  constructor(opts: DeviceOptions) {
    super(opts, { service: '1822', characteristic: '2a5e', advertise: ['1822'] }, (self) => [
      {
        uuid: '1822',
        characteristics: [
          { uuid: '2a5e', flags: ['indicate'], onSubscribe: (l) => self.sendStored(l) },
          { uuid: '2a5f', flags: ['notify'] },
          { uuid: '2a60', flags: ['read'], value: Uint8Array.of(0x00, 0x00) }, // PLX Features (PLXS 3.3)
        ],
      },
    ]);
  }
  /** a stored spot-check (PLXS 0x2A5E); time defaults to the device clock */
  addReading(r: { spo2: number; pulseRate: number; time?: Date | null }): Uint8Array {
    const time = r.time === undefined ? this.deviceTime() : r.time;
    const bytes = encodePlxSpotCheck({
      spo2: r.spo2,
      pulseRate: r.pulseRate,
      ...(time ? { timeStamp: dateTimeFields(time) } : {}),
    });
    this.addPacket(bytes);
    return bytes;
  }

  /** a continuous-measurement notification, if the client listens */
  sendContinuous(bytes: Uint8Array): boolean {
    return this.link?.notify('1822', '2a5f', bytes) ?? false;
  }
}

/** Heart Rate Service 0x180D (HRS 1.0) notifications, the activity tracker's live stream; packets as bytes. */
export class ActivityTracker extends RecordDevice {
  constructor(opts: DeviceOptions & { vendorService?: ServiceSpec }) {
    super(opts, { service: '180d', characteristic: '2a37', advertise: ['180d'] }, (self) => [
      {
        uuid: '180d',
        characteristics: [
          { uuid: '2a37', flags: ['notify'], onSubscribe: (l) => self.sendStored(l) },
          { uuid: '2a38', flags: ['read'], value: Uint8Array.of(0x02) }, // Body Sensor Location: wrist
        ],
      },
      ...(opts.vendorService ? [opts.vendorService] : []),
      currentTimeService(self),
    ]);
  }

  /** a heart-rate sample (HRS 0x2A37), sent on the next subscription or at once */
  addHeartRate(bpm: number): Uint8Array {
    const bytes = encodeHeartRate({ heartRate: bpm, contact: 'detected' });
    this.addPacket(bytes);
    return bytes;
  }
}

/** Broadcast-only scale (Mi Scale style): readings in service data 0x181D, not connectable. */
export class AdvertisingScale extends VirtualPeripheral {
  constructor(
    opts: Omit<PeripheralSpec, 'services' | 'connectable'> & { serviceDataUuid?: string; initial?: Uint8Array },
  ) {
    const uuid = opts.serviceDataUuid ?? '181d';
    super({
      ...opts,
      connectable: false,
      advertisement: {
        serviceUuids: [uuid],
        serviceData: opts.initial ? { [uuid]: opts.initial } : {},
        ...opts.advertisement,
      },
    });
    this.serviceDataUuid = uuid;
  }
  readonly serviceDataUuid: string;
  /** a new reading on the display: the advertisement's service data changes */
  broadcast(serviceData: Uint8Array): void {
    this.setAdvertisement({ serviceData: { [this.serviceDataUuid]: serviceData } });
  }
}

// ---------------------------------------------------------------------------------------------
// Glucose (GLS 1.0) with the Record Access Control Point 0x2A52 (GLS 3.6 / RACP in GSS 3.186)

export const RACP = {
  REPORT: 0x01,
  DELETE: 0x02,
  ABORT: 0x03,
  REPORT_NUMBER: 0x04,
  NUMBER_RESPONSE: 0x05,
  RESPONSE: 0x06,
  OP_NULL: 0x00,
  OP_ALL: 0x01,
  OP_LE: 0x02,
  OP_GE: 0x03,
  OP_RANGE: 0x04,
  OP_FIRST: 0x05,
  OP_LAST: 0x06,
  FILTER_SEQUENCE: 0x01,
  SUCCESS: 0x01,
  OPCODE_NOT_SUPPORTED: 0x02,
  INVALID_OPERATOR: 0x03,
  OPERATOR_NOT_SUPPORTED: 0x04,
  INVALID_OPERAND: 0x05,
  NO_RECORDS: 0x06,
  ABORT_UNSUCCESSFUL: 0x07,
  PROCEDURE_NOT_COMPLETED: 0x08,
  OPERAND_NOT_SUPPORTED: 0x09,
} as const;

export interface GlucoseRecord {
  sequence: number;
  /** Glucose Measurement 0x2A18 bytes; its sequence number field must equal `sequence` */
  measurement: Uint8Array;
  /** optional Glucose Measurement Context 0x2A34 bytes (measurement flag 0x10 set) */
  context?: Uint8Array;
}

/** Glucose meter: records are pulled with RACP (report all / >= sequence / first / last / number, abort). */
export class GlucoseMeter extends VirtualPeripheral {
  battery: number;
  readonly records: GlucoseRecord[] = [];
  private link: PeripheralLink | undefined;
  private transfer: { aborted: boolean } | undefined;
  intervalMs: number;
  /** a transfer of an earlier connection is still running: REPORT is refused (ATT 0xFE) until ABORT */
  stuckTransfer = false;
  /** measurement notifications sent, all connections (tests: a second sync sends none) */
  sentRecords = 0;

  constructor(opts: DeviceOptions) {
    super({ ...opts, advertisement: { serviceUuids: ['1808'] } });
    this.battery = opts.battery ?? 80;
    this.intervalMs = opts.recordIntervalMs ?? 5;
    this.services = [
      {
        uuid: '1808',
        characteristics: [
          { uuid: '2a18', flags: ['notify'] },
          { uuid: '2a34', flags: ['notify'] },
          { uuid: '2a51', flags: ['read'], value: Uint8Array.of(0x00, 0x04) }, // Glucose Feature: multiple bond (GLS 3.3)
          { uuid: '2a52', flags: ['write', 'indicate'], onWrite: (v, l) => this.racp(v, l) },
        ],
      },
      currentTimeService(this),
      deviceInformationService({
        manufacturer: opts.manufacturer ?? 'Vigil Virtual Devices',
        model: opts.model ?? 'GlucoseMeter',
        serial: opts.serial ?? opts.address.replace(/:/g, ''),
      }),
      batteryService(this),
    ];
  }

  addRecord(measurement: Uint8Array, context?: Uint8Array): GlucoseRecord {
    if (measurement.length < 3) throw new Error('a Glucose Measurement has flags and a sequence number');
    const sequence = new DataView(measurement.buffer, measurement.byteOffset, measurement.byteLength).getUint16(
      1,
      true,
    );
    const r: GlucoseRecord = { sequence, measurement, ...(context ? { context } : {}) };
    this.records.push(r);
    return r;
  }

  /** the next record (sequence = last + 1) via drivers/encoders; time defaults to the device clock */
  addReading(r: { mmolPerL: number; time?: Date; hba1c?: number }): GlucoseRecord {
    const sequence = (this.records.reduce((m, x) => Math.max(m, x.sequence), 0) + 1) & 0xffff;
    const time = r.time ?? this.deviceTime();
    const measurement = encodeGlucoseMeasurement({
      sequence,
      baseTime: dateTimeFields(time),
      concentration: { value: r.mmolPerL, unit: 'mmol/L' },
      contextFollows: r.hba1c !== undefined,
    });
    return this.addRecord(
      measurement,
      r.hba1c !== undefined ? encodeGlucoseContext({ sequence, hba1c: r.hba1c }) : undefined,
    );
  }

  override onConnected(link: PeripheralLink): void {
    this.link = link;
    this.transfer = this.stuckTransfer ? { aborted: false } : undefined;
  }

  override onDisconnected(): void {
    this.link = undefined;
    this.transfer = undefined;
  }

  private respond(link: PeripheralLink, requestOp: number, code: number): void {
    link.notify('1808', '2a52', Uint8Array.of(RACP.RESPONSE, RACP.OP_NULL, requestOp, code));
  }

  private select(operator: number, operand: Uint8Array): RecordSelection {
    const sorted = [...this.records].sort((a, b) => a.sequence - b.sequence);
    // callers check the operand length first (uint16 LE, GLS 1.0 4.9.1)
    const seq = (i: number) => new DataView(operand.buffer, operand.byteOffset, operand.byteLength).getUint16(i, true);
    switch (operator) {
      case RACP.OP_ALL:
        return operand.length === 0 ? sorted : RACP.INVALID_OPERAND;
      case RACP.OP_FIRST:
        return sorted.slice(0, 1);
      case RACP.OP_LAST:
        return sorted.slice(-1);
      case RACP.OP_GE:
      case RACP.OP_LE:
      case RACP.OP_RANGE: {
        if (operand[0] !== RACP.FILTER_SEQUENCE)
          return operand.length === 0 ? RACP.INVALID_OPERAND : RACP.OPERAND_NOT_SUPPORTED;
        const need = operator === RACP.OP_RANGE ? 5 : 3;
        if (operand.length !== need) return RACP.INVALID_OPERAND;
        if (operator === RACP.OP_GE) return sorted.filter((r) => r.sequence >= seq(1));
        if (operator === RACP.OP_LE) return sorted.filter((r) => r.sequence <= seq(1));
        return sorted.filter((r) => r.sequence >= seq(1) && r.sequence <= seq(3));
      }
      case RACP.OP_NULL:
        return RACP.INVALID_OPERATOR;
      default:
        return RACP.OPERATOR_NOT_SUPPORTED;
    }
  }

  /** RACP write handler (GLS 1.0 4.8 / 4.9); errors as the spec's ATT codes */
  private racp(v: Uint8Array, link: PeripheralLink): void {
    if (!link.subscribed('1808', '2a52'))
      throw new AttError(0xfd, 'Client Characteristic Configuration Descriptor Improperly Configured');
    const [op, operator] = [v[0] ?? 0, v[1] ?? 0];
    if (op === RACP.ABORT) {
      if (operator !== RACP.OP_NULL) {
        link.later(0, () => this.respond(link, op, RACP.INVALID_OPERATOR));
        return;
      }
      if (this.transfer) this.transfer.aborted = true;
      this.transfer = undefined;
      this.stuckTransfer = false;
      link.later(0, () => this.respond(link, op, RACP.SUCCESS));
      return;
    }
    if (this.transfer) throw new AttError(0xfe, 'Procedure Already In Progress');
    const operand = v.subarray(2);
    if (op === RACP.REPORT_NUMBER) {
      const sel = this.select(operator, operand);
      link.later(0, () => {
        if (typeof sel === 'number') this.respond(link, op, sel);
        else
          link.notify(
            '1808',
            '2a52',
            Uint8Array.of(RACP.NUMBER_RESPONSE, RACP.OP_NULL, sel.length & 0xff, sel.length >> 8),
          );
      });
      return;
    }
    if (op === RACP.DELETE) {
      const sel = this.select(operator, operand);
      link.later(0, () => {
        if (typeof sel === 'number') {
          this.respond(link, op, sel);
          return;
        }
        for (const r of sel) this.records.splice(this.records.indexOf(r), 1);
        this.respond(link, op, sel.length ? RACP.SUCCESS : RACP.NO_RECORDS);
      });
      return;
    }
    if (op !== RACP.REPORT) {
      link.later(0, () => this.respond(link, op, RACP.OPCODE_NOT_SUPPORTED));
      return;
    }
    const sel = this.select(operator, operand);
    if (typeof sel === 'number') {
      link.later(0, () => this.respond(link, op, sel));
      return;
    }
    if (sel.length === 0) {
      link.later(0, () => this.respond(link, op, RACP.NO_RECORDS));
      return;
    }
    const transfer = { aborted: false };
    this.transfer = transfer;
    const queue = [...sel];
    const next = () => {
      if (transfer.aborted || !link.up) return;
      const r = queue.shift();
      if (!r) {
        this.transfer = undefined;
        this.respond(link, op, RACP.SUCCESS);
        return;
      }
      if (link.notify('1808', '2a18', r.measurement)) this.sentRecords++;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a refused notify may have dropped the link
      else if (!link.up) return;
      if (r.context) link.notify('1808', '2a34', r.context);
      link.later(this.intervalMs, next);
    };
    link.later(0, next);
  }

  get connectedLink(): PeripheralLink | undefined {
    return this.link;
  }
}

type RecordSelection = GlucoseRecord[] | number;

// ---------------------------------------------------------------------------------------------

const AND_SERVICE = '233bf000-5a34-1b6d-975c-000d5690abe4';
const AND_CONFIGURATION = '233bf001-5a34-1b6d-975c-000d5690abe4';

/**
 * A&D Medical "BLE" devices (UA-651BLE cuff, UC-352BLE scale) as their public GATT dumps show them
 * (github.com/HEADS-project/ThingML-BLE Documentation/AND_Medical_*.md): the SIG profile service
 * with a Date Time 0x2A08 (read/write) inside it, no Current Time Service, a vendor configuration
 * service, an encrypted link. Stored records are indicated only once the clock was written on
 * this connection (the gateway that documents them sets the time before enabling indications).
 */
abstract class AndDevice extends RecordDevice {
  /** Date Time writes received (device-local fields), newest last */
  readonly timeWrites: Date[] = [];
  /** what the central did, in order: 'time' (Date Time written), 'subscribe' (indications enabled) */
  readonly dialogue: ('time' | 'subscribe')[] = [];
  private timeSet = false;
  private subscribedLink: PeripheralLink | undefined;

  constructor(opts: DeviceOptions, profile: { service: string; characteristic: string; feature: Uint8Array }) {
    super(
      { manufacturer: 'A&D Medical', requiresBonding: true, ...opts },
      { service: profile.service, characteristic: profile.characteristic, advertise: [profile.service] },
      (self) => [
        {
          uuid: profile.service,
          characteristics: [
            {
              uuid: profile.characteristic,
              flags: ['indicate'],
              onSubscribe: (l) => {
                if (!(self instanceof AndDevice)) return;
                self.subscribedLink = l;
                self.dialogue.push('subscribe');
                if (self.timeSet) self.sendStored(l);
              },
            },
            { uuid: profile.service === '1810' ? '2a49' : '2a9e', flags: ['read'], value: profile.feature },
            {
              uuid: '2a08',
              flags: ['read', 'write'],
              onRead: () => dateTimeBytes(self.deviceTime()),
              onWrite: (v) => {
                if (!(self instanceof AndDevice)) return;
                self.onTimeWrite(v);
              },
            },
          ],
        },
        { uuid: AND_SERVICE, characteristics: [{ uuid: AND_CONFIGURATION, flags: ['write', 'indicate'] }] },
      ],
    );
  }

  private onTimeWrite(v: Uint8Array): void {
    if (v.length < 7) throw new AttError(0x0d);
    const year = (v[0] ?? 0) | ((v[1] ?? 0) << 8);
    const local = new Date(Date.UTC(year, (v[2] ?? 1) - 1, v[3] ?? 1, v[4] ?? 0, v[5] ?? 0, v[6] ?? 0));
    if (!this.faults.ignoreTimeWrite) this.setDeviceTime(local);
    this.timeWrites.push(local);
    this.dialogue.push('time');
    this.timeSet = true;
    if (this.subscribedLink?.up) this.sendStored(this.subscribedLink);
  }

  override onConnected(link: PeripheralLink): void {
    super.onConnected(link);
    this.timeSet = false;
    this.subscribedLink = undefined;
  }
}

/** A&D UA-651BLE cuff: BLS 0x1810 (2A35 indicate, 2A49, 2A08) */
export class AndBloodPressureMonitor extends AndDevice {
  constructor(opts: DeviceOptions) {
    super(
      { model: 'UA-651BLE', ...opts },
      { service: '1810', characteristic: '2a35', feature: Uint8Array.of(0x04, 0x00) },
    );
  }

  /** a measurement, stored until the next synchronisation; time defaults to the device clock */
  addReading(r: BpReading): Uint8Array {
    const bytes = bloodPressurePacket({ ...r, time: r.time === undefined ? this.deviceTime() : r.time });
    this.addPacket(bytes);
    return bytes;
  }
}

/** A&D UC-352BLE scale: WSS 0x181D (2A9D indicate, 2A9E, 2A08) */
export class AndWeightScale extends AndDevice {
  constructor(opts: DeviceOptions) {
    super(
      { model: 'UC-352BLE', ...opts },
      { service: '181d', characteristic: '2a9d', feature: Uint8Array.of(0x02, 0x00, 0x00, 0x00) },
    );
  }

  /** a weighing in kg (resolution 0.005 kg), stored until the next synchronisation */
  addReading(r: { weight: number; time?: Date | null }): Uint8Array {
    const time = r.time === undefined ? this.deviceTime() : r.time;
    const bytes = encodeWeightMeasurement({ weight: r.weight, ...(time ? { timeStamp: dateTimeFields(time) } : {}) });
    this.addPacket(bytes);
    return bytes;
  }
}
