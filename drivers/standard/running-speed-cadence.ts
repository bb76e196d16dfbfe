import { ByteReader } from '../codecs/byte-reader';
import { ResultBuilder, bitNames, round } from '../codecs/fields';
import { defineDriver } from '../sdk/compose';
import type { DecodeResult, Driver } from '../sdk/definition';
import { battery } from '../common/battery';
import { deviceInformation } from '../common/device-information';

/**
 * GSS 3.188 RSC Measurement 0x2A53: flags, speed uint16 (1/256 m/s), cadence uint8 (/min),
 * [stride length uint16 (0.01 m)], [total distance uint32 (0.1 m)]; bit 2 = running (else walking).
 */
export function decodeRscMeasurement(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const b = new ResultBuilder();
  const flags = r.u8('Flags');
  const speed = r.u16('Instantaneous Speed');
  const cadence = r.u8('Instantaneous Cadence');
  b.common.flags = [flags & 0x04 ? 'running' : 'walking'];
  b.add('speed', round(speed / 256, 3), 'm/s');
  b.add('cadence', cadence, '/min');
  if (flags & 0x01) b.add('stride_length', round(r.u16('Instantaneous Stride Length') * 0.01, 2), 'm');
  if (flags & 0x02) b.add('distance', round(r.u32('Total Distance') * 0.1, 1), 'm');
  return b.build();
}

/** GSS 3.189 RSC Feature 0x2A54 (uint16). */
export function decodeRscFeature(bytes: Uint8Array): DecodeResult {
  const b = new ResultBuilder();
  b.addInfo(
    'rscFeature',
    bitNames(new ByteReader(bytes).u16('RSC Feature'), {
      0: 'stride_length',
      1: 'total_distance',
      2: 'walking_or_running_status',
      3: 'calibration_procedure',
      4: 'multiple_sensor_locations',
    }),
  );
  return b.build();
}

/** Bluetooth SIG Running Speed and Cadence Service 0x1814 (RSCS 1.0). */
export const runningSpeedCadenceDriver: Driver = defineDriver(
  {
    definition: {
      id: 'sig-running-speed-cadence',
      vendor: 'Bluetooth SIG',
      models: ['Running Speed and Cadence Service 0x1814'],
      description: 'Standard Running Speed and Cadence Profile: foot pods and gait sensors',
      match: { serviceUuids: ['1814'] },
      linkMode: 'connect',
      capabilities: {},
      metrics: ['speed', 'cadence', 'stride_length', 'distance'],
      characteristics: [
        { service: '1814', characteristic: '2a53', access: 'notify' },
        { service: '1814', characteristic: '2a54', access: 'read', required: false },
      ],
    },
    decoders: { '2a53': decodeRscMeasurement, '2a54': decodeRscFeature },
  },
  battery(),
  deviceInformation(),
);
