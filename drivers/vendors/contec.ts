import { ResultBuilder } from '../codecs/fields';
import type { DecodeResult, Driver } from '../sdk/definition';
import { DecodeError } from '../sdk/errors';

/**
 * Contec CMS50D-BT (and OEM twins) vendor protocol over a serial-like GATT pair (notify 0xFF02,
 * write 0xFF01). Frames use Contec's 7-bit framing: bit 7 is set only on the header byte; a
 * "high bits" byte carries bit 7 of the following data bytes; the last byte is
 * sum(previous bytes) & 0x7F. Live data starts after writing 9B 01 1C.
 * Real-time frame EB 01: [EB, 01, hi, pulse, SpO2, PI, reserved, checksum].
 */
export const CONTEC_START_REALTIME = '9b011c';
const NO_DATA = [0x7f, 0xff];

export function contecChecksum(body: Uint8Array): number {
  return body.reduce((s, v) => s + v, 0) & 0x7f;
}

export function decodeContecFrame(bytes: Uint8Array): DecodeResult {
  if (bytes.length === 0) throw new DecodeError('TRUNCATED', 'empty frame');
  if (bytes[0] !== 0xeb)
    throw new DecodeError('UNSUPPORTED', `frame type 0x${(bytes[0] ?? 0).toString(16)} carries no measurement`);
  if (bytes.length < 8) throw new DecodeError('TRUNCATED', `real-time frame needs 8 bytes, got ${bytes.length}`);
  if (bytes[1] !== 0x01)
    throw new DecodeError('UNSUPPORTED', `EB frame subtype 0x${(bytes[1] ?? 0).toString(16)} carries no measurement`);
  const check = bytes[7] ?? 0;
  if (contecChecksum(bytes.subarray(0, 7)) !== check) throw new DecodeError('INVALID', 'checksum mismatch');
  for (let i = 1; i < 7; i++)
    if ((bytes[i] ?? 0) & 0x80) throw new DecodeError('INVALID', `data byte ${i} has bit 7 set`);
  const hi = bytes[2] ?? 0;
  const data = [3, 4, 5, 6].map((at, i) => (bytes[at] ?? 0) | (((hi >> i) & 1) << 7));
  const [pulse = 0, spo2 = 0, pi = 0] = data;
  const b = new ResultBuilder();
  if (NO_DATA.includes(spo2) || spo2 === 0)
    b.reject({
      metric: 'spo2',
      field: 'SpO2',
      code: 'DEVICE_FLAGGED',
      reason: 'no finger / searching (SpO2 byte 0x7F)',
      raw: spo2,
    });
  else b.add('spo2', spo2, '%');
  if (NO_DATA.includes(pulse) || pulse === 0)
    b.reject({
      metric: 'heart_rate',
      field: 'Pulse Rate',
      code: 'DEVICE_FLAGGED',
      reason: 'no finger / searching (pulse byte 0xFF)',
      raw: pulse,
    });
  else b.add('heart_rate', pulse, '/min');
  if (!NO_DATA.includes(pi) && pi !== 0) b.add('pulse_amplitude_index', pi / 10, '%');
  return b.build();
}

export const contecCms50dDriver: Driver = {
  definition: {
    id: 'contec-cms50d-bt',
    vendor: 'Contec',
    models: ['CMS50D-BT', 'SpO208 (advertised name)'],
    description:
      'Fingertip oximeter with the Contec vendor protocol: write a start command, then real-time EB 01 frames',
    match: { namePattern: '^(SpO208|CMS50D)' },
    priority: 10,
    linkMode: 'connect',
    capabilities: {},
    metrics: ['spo2', 'heart_rate', 'pulse_amplitude_index'],
    characteristics: [
      { service: 'ff12', characteristic: 'ff02', access: 'notify' },
      { service: 'ff12', characteristic: 'ff01', access: 'write', writeOnConnect: CONTEC_START_REALTIME },
    ],
    quirks: ['vendor_protocol_7bit_framing', 'start_command_required'],
  },
  decoders: { ff02: decodeContecFrame },
};
