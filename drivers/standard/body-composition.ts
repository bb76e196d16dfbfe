import type { MetricName } from '../../contract';
import { ByteReader } from '../codecs/byte-reader';
import { readTimeStamp, readUserId } from '../codecs/common';
import { IN_TO_CM, KJ_TO_KCAL, LB_TO_KG, ResultBuilder, bitNames, round } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import type { DecodeContext, DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';

/** GSS 3.34 Body Composition Measurement 0x2A9C, uint16 flags. */
const F = {
  imperial: 1 << 0,
  timeStamp: 1 << 1,
  userId: 1 << 2,
  basalMetabolism: 1 << 3,
  musclePercentage: 1 << 4,
  muscleMass: 1 << 5,
  fatFreeMass: 1 << 6,
  softLeanMass: 1 << 7,
  bodyWaterMass: 1 << 8,
  impedance: 1 << 9,
  weight: 1 << 10,
  height: 1 << 11,
  multiplePacket: 1 << 12,
} as const;
const UNSUCCESSFUL = 0xffff;
const MULTI_KEY = 'bcs.multiPacket';

interface PendingPacket {
  deviceTime?: string;
  userIndex?: number;
}

/**
 * Fields in flag order; masses are 0.005 kg (SI) or 0.01 lb (imperial), body fat and muscle
 * percentage 0.1 %, basal metabolism 1 kJ, impedance 0.1 Ohm, height 0.001 m or 0.1 in.
 * Multi-packet (flag bit 12, BCS 1.0 4.2.1.2): each part is self-describing; a continuation part
 * inherits the time stamp and user of the first part so its readings get the same identity.
 */
export function decodeBodyComposition(bytes: Uint8Array, ctx: DecodeContext): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u16('Flags');
  const imperial = (flags & F.imperial) !== 0;
  const bodyFat = r.u16('Body Fat Percentage');
  if (flags & F.timeStamp) readTimeStamp(r, b);
  if (flags & F.userId) readUserId(r, b);
  const mass = (metric: MetricName, field: string) => {
    const raw = r.u16(field);
    if (raw === UNSUCCESSFUL)
      b.reject({ metric, field, code: 'SPECIAL_VALUE', reason: 'measurement unsuccessful (0xFFFF)', raw });
    else if (imperial) b.add(metric, round(raw * 0.01, 2), 'kg', LB_TO_KG);
    else b.add(metric, round(raw * 0.005, 3), 'kg');
  };
  if (bodyFat === UNSUCCESSFUL)
    b.reject({
      metric: 'body_fat',
      field: 'Body Fat Percentage',
      code: 'SPECIAL_VALUE',
      reason: 'measurement unsuccessful (0xFFFF)',
      raw: bodyFat,
    });
  else b.add('body_fat', round(bodyFat * 0.1, 1), '%');
  if (flags & F.basalMetabolism)
    b.add('basal_metabolism', r.u16('Basal Metabolism'), 'kcal/d', { ...KJ_TO_KCAL, deviceUnit: 'kJ/d', decimals: 0 });
  if (flags & F.musclePercentage) b.add('muscle_percentage', round(r.u16('Muscle Percentage') * 0.1, 1), '%');
  if (flags & F.muscleMass) mass('muscle_mass', 'Muscle Mass');
  if (flags & F.fatFreeMass) mass('fat_free_mass', 'Fat Free Mass');
  if (flags & F.softLeanMass) mass('soft_lean_mass', 'Soft Lean Mass');
  if (flags & F.bodyWaterMass) mass('body_water_mass', 'Body Water Mass');
  if (flags & F.impedance) b.add('impedance', round(r.u16('Impedance') * 0.1, 1), 'Ohm');
  if (flags & F.weight) mass('body_weight', 'Weight');
  if (flags & F.height) {
    const h = r.u16('Height');
    if (imperial) b.add('height', round(h * 0.1, 1), 'cm', IN_TO_CM);
    else b.add('height', round(h * 0.1, 1), 'cm', { factor: 1, deviceUnit: 'm', decimals: 1 });
  }
  if (flags & F.multiplePacket) {
    const pending = ctx.state.get(MULTI_KEY) as PendingPacket | undefined;
    if (pending) {
      b.common.deviceTime ??= pending.deviceTime;
      b.common.userIndex ??= pending.userIndex;
      ctx.state.delete(MULTI_KEY);
      b.common.flags = ['multi_packet_continuation'];
    } else {
      ctx.state.set(MULTI_KEY, {
        deviceTime: b.common.deviceTime,
        userIndex: b.common.userIndex,
      } satisfies PendingPacket);
      b.common.flags = ['multi_packet_first'];
    }
  }
  return b.build();
}

/** GSS 3.33 Body Composition Feature 0x2A9B (uint32). */
export function decodeBodyCompositionFeature(bytes: Uint8Array): DecodeResult {
  const f = new ByteReader(bytes).u32('Body Composition Feature');
  const b = new ResultBuilder();
  b.addInfo('bodyCompositionFeature', {
    supported: bitNames(f, {
      0: 'time_stamp',
      1: 'multiple_users',
      2: 'basal_metabolism',
      3: 'muscle_percentage',
      4: 'muscle_mass',
      5: 'fat_free_mass',
      6: 'soft_lean_mass',
      7: 'body_water_mass',
      8: 'impedance',
      9: 'weight',
      10: 'height',
    }),
    massResolution: (f >>> 11) & 0x0f,
    heightResolution: (f >>> 15) & 0x07,
  });
  return b.build();
}

/** Bluetooth SIG Body Composition Service 0x181B (BCS 1.0). */
export const bodyCompositionDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-body-composition',
      vendor: 'Bluetooth SIG',
      models: ['Body Composition Service 0x181B'],
      description: 'Standard Body Composition Profile: body fat and all optional fields, multi-packet aware',
      match: { serviceUuids: ['181b'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true, multiUser: true },
      metrics: [
        'body_fat',
        'basal_metabolism',
        'muscle_percentage',
        'muscle_mass',
        'fat_free_mass',
        'soft_lean_mass',
        'body_water_mass',
        'impedance',
        'body_weight',
        'height',
      ],
      characteristics: [
        { service: '181b', characteristic: '2a9c', access: 'indicate' },
        { service: '181b', characteristic: '2a9b', access: 'read', required: false },
      ],
    },
    decoders: { '2a9c': decodeBodyComposition, '2a9b': decodeBodyCompositionFeature },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
