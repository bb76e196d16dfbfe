import { ByteReader } from '../codecs/byte-reader';
import { ResultBuilder } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import type { DecodeContext, DecodeResult, Driver } from '../sdk/definition';
import { DecodeError } from '../sdk/errors';
import { battery } from '../common/battery';
import { currentTime } from '../common/current-time';
import { deviceInformation } from '../common/device-information';

/**
 * PAMS 1.0 data characteristics start with a segmentation Header (bit 0 first segment, bit 1 last
 * segment, bits 2-7 rolling segment counter); segments are joined before decoding.
 * Returns the whole payload once the last segment arrived, else undefined.
 */
function reassemble(bytes: Uint8Array, ctx: DecodeContext, key: string): Uint8Array | undefined {
  const r = new ByteReader(bytes);
  const header = r.u8('Header');
  const first = (header & 0x01) !== 0;
  const last = (header & 0x02) !== 0;
  const counter = header >> 2;
  const body = bytes.subarray(1);
  const pending = ctx.state.get(key) as { next: number; parts: Uint8Array[] } | undefined;
  if (first && last) {
    ctx.state.delete(key);
    return body;
  }
  if (first) {
    ctx.state.set(key, { next: (counter + 1) & 0x3f, parts: [body] });
    return undefined;
  }
  if (!pending || pending.next !== counter) {
    ctx.state.delete(key);
    throw new DecodeError(
      'INVALID',
      `segment ${counter} out of order (expected ${pending ? pending.next : 'a first segment'})`,
    );
  }
  pending.parts.push(body);
  pending.next = (counter + 1) & 0x3f;
  if (!last) return undefined;
  ctx.state.delete(key);
  return Buffer.concat(pending.parts);
}

/** Session ID uint16, Sub-Session ID uint16, Relative Timestamp uint32 (s), Sequence Number uint32. */
function readSession(r: ByteReader, b: ResultBuilder): void {
  const session = r.u16('Session ID');
  const subSession = r.u16('Sub-Session ID');
  const relativeSeconds = r.u32('Relative Timestamp');
  b.common.sequence = r.u32('Sequence Number');
  b.addInfo('session', { session, subSession, relativeSeconds });
}

/**
 * GSS Step Counter Activity Summary Data 0x2B40: Flags uint8 (bit 0 normal walking steps, 1 intensity
 * steps, 2 floor steps, 3 distance, 4 worn duration), session fields, then uint24 fields.
 * `steps` = normal walking + intensity steps; distance in metres.
 */
export function decodeStepCounterSummary(bytes: Uint8Array, ctx: DecodeContext): DecodeResult {
  const payload = reassemble(bytes, ctx, 'pams.2b40');
  const b = new ResultBuilder();
  if (!payload) {
    b.addInfo('segment', 'waiting for the last segment');
    return b.build();
  }
  const r = new ByteReader(payload);
  const flags = r.u8('Flags');
  readSession(r, b);
  const normal = flags & 0x01 ? r.u24('Normal Walking Steps') : undefined;
  const intensity = flags & 0x02 ? r.u24('Intensity Steps') : undefined;
  const floor = flags & 0x04 ? r.u24('Floor Steps') : undefined;
  const distance = flags & 0x08 ? r.u24('Distance') : undefined;
  const worn = flags & 0x10 ? r.u24('Worn Duration') : undefined;
  if (normal !== undefined || intensity !== undefined) b.add('steps', (normal ?? 0) + (intensity ?? 0), '{steps}');
  if (distance !== undefined) b.add('distance', distance, 'm');
  b.addInfo('stepCounter', {
    normalWalkingSteps: normal,
    intensitySteps: intensity,
    floorSteps: floor,
    wornSeconds: worn,
  });
  return b.build();
}

/**
 * GSS General Activity Summary Data 0x2B3D: Flags uint32, session fields, then (bits 0-2) Normal
 * Walking, Intensity and Total Energy Expenditure, uint16 kcal each. Later fields are not decoded.
 */
export function decodeGeneralActivitySummary(bytes: Uint8Array, ctx: DecodeContext): DecodeResult {
  const payload = reassemble(bytes, ctx, 'pams.2b3d');
  const b = new ResultBuilder();
  if (!payload) {
    b.addInfo('segment', 'waiting for the last segment');
    return b.build();
  }
  const r = new ByteReader(payload);
  const flags = r.u32('Flags');
  readSession(r, b);
  if (flags & 0x01) r.u16('Normal Walking Energy Expenditure');
  if (flags & 0x02) r.u16('Intensity Energy Expenditure');
  if (flags & 0x04) {
    const total = r.u16('Total Energy Expenditure');
    if (total === 0xffff)
      b.reject({
        metric: 'energy_expended',
        field: 'Total Energy Expenditure',
        code: 'SPECIAL_VALUE',
        reason: 'value unknown (0xFFFF)',
        raw: total,
      });
    else b.add('energy_expended', total, 'kcal');
  }
  return b.build();
}

/** Bluetooth SIG Physical Activity Monitor Service 0x183E (PAMS 1.0): step counter and energy summaries. */
export const physicalActivityMonitorDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-physical-activity-monitor',
      vendor: 'Bluetooth SIG',
      models: ['Physical Activity Monitor Service 0x183E'],
      description:
        'Standard Physical Activity Monitor: step counter summary (steps, distance) and general activity summary (energy)',
      match: { serviceUuids: ['183e'] },
      linkMode: 'connect',
      capabilities: { storedRecords: true },
      metrics: ['steps', 'distance', 'energy_expended'],
      characteristics: [
        { service: '183e', characteristic: '2b40', access: 'indicate' },
        { service: '183e', characteristic: '2b3d', access: 'indicate', required: false },
      ],
    },
    decoders: { '2b40': decodeStepCounterSummary, '2b3d': decodeGeneralActivitySummary },
  },
  battery(),
  currentTime(),
  deviceInformation(),
);
