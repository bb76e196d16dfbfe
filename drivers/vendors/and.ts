import { ByteReader } from '../codecs/byte-reader';
import { encodeDateTime, readDateTime } from '../codecs/date-time';
import { battery } from '../common/battery';
import { localTimeOf } from '../common/current-time';
import { deviceInformation } from '../common/device-information';
import { decodeWithQuirks } from '../common/quirk-registry';
import { defineDriver } from '../sdk/compose';
import type { Driver } from '../sdk/definition';
import { defineSession, type SessionStep } from '../sdk/session';
import { decodeBloodPressure, decodeBloodPressureFeature } from '../standard/blood-pressure';
import { decodeWeightMeasurement, decodeWeightScaleFeature } from '../standard/weight-scale';

/**
 * A&D Medical UA/UC "BLE" series (UA-651BLE cuff, UC-352BLE scale): the Bluetooth SIG Blood
 * Pressure and Weight Scale services with A&D specifics, as their public GATT dumps, captures
 * and a working gateway show (github.com/HEADS-project/ThingML-BLE, commit a7aa158:
 * Documentation/AND_Medical_UA651BLE.md, Documentation/AND_Medical_UC352BLE.md,
 * AND_UA651BLE/1_Pair/BLE_PAIR.thingml, MedicalGW/2_Sync/Device_AND_UC352BLE.thingml):
 *
 * - the link must be encrypted (the device is bonded once, its Start button held until it shows
 *   "Pair", AND_UA651BLE/README.md): bonding required;
 * - the clock is the Date Time characteristic 0x2A08 inside the profile service (no Current Time
 *   Service), written on every connection BEFORE the measurement indications are enabled: the
 *   device keeps its records until its time is set, then indicates every stored record, oldest
 *   first, and drops the link;
 * - a vendor service 233bf000-5a34-1b6d-975c-000d5690abe4 with one configuration characteristic
 *   233bf001-… (write/indicate); the gateway needs none of its commands, it is declared so the
 *   family is recognised.
 * - a record of a cancelled measurement has every value NaN 0x07FF (a capture of the UA-651BLE):
 *   the standard decoder rejects it as SPECIAL_VALUE.
 */
const AND_SERVICE = '233bf000-5a34-1b6d-975c-000d5690abe4';
const AND_CONFIGURATION = '233bf001-5a34-1b6d-975c-000d5690abe4';
const DATE_TIME = '2a08';

/**
 * Reads the device clock (Date Time 0x2A08, GSS 3.57) for the offset the stored records were taken
 * with, then sets it to the gateway's local time. Before subscribing: the device sends its records
 * only once its clock is set.
 */
function setTime(service: string): SessionStep {
  return {
    name: 'and.set-time',
    kind: 'time',
    async run(io) {
      if (!(await io.has(service, DATE_TIME))) {
        io.log('warn', 'AND_NO_DATE_TIME');
        return;
      }
      const now = new Date();
      const local = localTimeOf(now, io.timeZone);
      const current = readDateTime(new ByteReader(await io.read(service, DATE_TIME)));
      if (current.ok) {
        const device = Date.parse(`${current.deviceTime}Z`);
        const gateway = Date.UTC(local.year, local.month - 1, local.day, local.hours, local.minutes, local.seconds);
        const offset = Math.round((device - gateway) / 1000) * 1000;
        // Date Time has 1 s resolution: within 2 s the clock is right
        io.clockOffsetMs = Math.abs(offset) < 2_000 ? 0 : offset;
      }
      await io.write(service, DATE_TIME, encodeDateTime(localTimeOf(new Date(), io.timeZone)));
    },
  };
}

const configuration = {
  service: AND_SERVICE,
  characteristic: AND_CONFIGURATION,
  access: 'write' as const,
  required: false,
};
const session = (service: string) => defineSession('gatt.read', setTime(service), 'gatt.subscribe');

/** A&D UA-651BLE (and UA-651BLE Plus) upper-arm cuff */
export const andBloodPressureDriver: Driver = defineDriver(
  {
    definition: {
      id: 'and-ua-651ble',
      vendor: 'A&D Medical',
      models: ['UA-651BLE', 'UA-651BLE Plus'],
      description: 'A&D BLE cuff: bonded link, Date Time 0x2A08 set before the stored records are indicated',
      match: { serviceUuids: ['1810'], namePattern: '^A&D' },
      priority: 10,
      linkMode: 'connect',
      capabilities: { timeSync: true, storedRecords: true, multiUser: false },
      metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic', 'blood_pressure_mean', 'heart_rate'],
      characteristics: [
        { service: '1810', characteristic: '2a35', access: 'indicate' },
        { service: '1810', characteristic: '2a49', access: 'read', required: false },
        configuration,
      ],
      quirks: ['time_in_profile_service'],
      bonding: 'required',
    },
    decoders: {
      '2a35': (bytes, ctx) => decodeWithQuirks('2a35', bytes, ctx, (b) => decodeBloodPressure(b)),
      '2a49': decodeBloodPressureFeature,
    },
    session: session('1810'),
  },
  battery(),
  deviceInformation(),
);

/** A&D UC-352BLE scale */
export const andWeightScaleDriver: Driver = defineDriver(
  {
    definition: {
      id: 'and-uc-352ble',
      vendor: 'A&D Medical',
      models: ['UC-352BLE'],
      description: 'A&D BLE scale: bonded link, Date Time 0x2A08 set before the stored weighings are indicated',
      match: { serviceUuids: ['181d'], namePattern: '^A&D' },
      priority: 10,
      linkMode: 'connect',
      capabilities: { timeSync: true, storedRecords: true, multiUser: false },
      metrics: ['body_weight', 'bmi', 'height'],
      characteristics: [
        { service: '181d', characteristic: '2a9d', access: 'indicate' },
        { service: '181d', characteristic: '2a9e', access: 'read', required: false },
        configuration,
      ],
      quirks: ['time_in_profile_service'],
      bonding: 'required',
    },
    decoders: {
      '2a9d': (bytes, ctx) => decodeWithQuirks('2a9d', bytes, ctx, decodeWeightMeasurement),
      '2a9e': decodeWeightScaleFeature,
    },
    session: session('181d'),
  },
  battery(),
  deviceInformation(),
);
