import { ByteReader } from '../codecs/byte-reader';
import { readDateTime } from '../codecs/date-time';
import { LB_TO_KG, ResultBuilder, round, type Conversion } from '../codecs/fields';
import type { Advertisement, DecodeResult, Driver } from '../sdk/definition';
import { DecodeError } from '../sdk/errors';
import { normalizeUuid } from '../sdk/uuid';

/**
 * Xiaomi Mi scales broadcast their reading in advertisement service data, no connection
 * (openScale MiScale handlers, Theengs decoder). Quirks: the SIG Weight Scale / Body Composition
 * service UUIDs 0x181D / 0x181B are reused with a vendor layout; units: kg raw/200, lb and jin raw/100.
 */
const JIN_TO_KG: Conversion = { factor: 0.5, deviceUnit: 'jin', decimals: 3 };

function serviceData(adv: Advertisement, uuid: string): Uint8Array {
  const entry = Object.entries(adv.serviceData).find(([k]) => normalizeUuid(k) === uuid);
  if (!entry) throw new DecodeError('UNSUPPORTED', `no service data ${uuid}`);
  return entry[1];
}

function addWeight(b: ResultBuilder, raw: number, lb: boolean, jin: boolean): void {
  if (lb) b.add('body_weight', round(raw / 100, 2), 'kg', LB_TO_KG);
  else if (jin) b.add('body_weight', round(raw / 100, 2), 'kg', JIN_TO_KG);
  else b.add('body_weight', round(raw / 200, 3), 'kg');
}

function readTime(r: ByteReader, b: ResultBuilder): void {
  const t = readDateTime(r);
  if (t.ok) b.common.deviceTime = t.deviceTime;
  else b.reject({ field: 'time_stamp', code: 'UNKNOWN_TIME', reason: t.reason });
}

/** Mi Smart Scale (XMTZC01HM/XMTZC04HM), service data 0x181D: ctrl, weight uint16, Date Time. */
export function decodeMiScale(adv: Advertisement): DecodeResult {
  const r = new ByteReader(serviceData(adv, '181d'));
  const b = new ResultBuilder();
  const ctrl = r.u8('control');
  const weight = r.u16('weight');
  readTime(r, b);
  const stabilised = (ctrl & 0x20) !== 0;
  const removed = (ctrl & 0x80) !== 0;
  if (!stabilised || removed) {
    b.reject({
      metric: 'body_weight',
      field: 'weight',
      code: 'DEVICE_FLAGGED',
      reason: removed ? 'load removed' : 'weight not stabilised yet',
      raw: weight,
    });
    return b.build();
  }
  addWeight(b, weight, (ctrl & 0x01) !== 0, (ctrl & 0x10) !== 0);
  return b.build();
}

/** Mi Body Composition Scale (XMTZC02HM/XMTZC05HM), service data 0x181B: ctrl0, ctrl1, Date Time, impedance, weight. */
export function decodeMiBodyComposition(adv: Advertisement): DecodeResult {
  const r = new ByteReader(serviceData(adv, '181b'));
  const b = new ResultBuilder();
  const ctrl0 = r.u8('control 0');
  const ctrl1 = r.u8('control 1');
  readTime(r, b);
  const impedance = r.u16('impedance');
  const weight = r.u16('weight');
  const stabilised = (ctrl1 & 0x20) !== 0;
  const removed = (ctrl1 & 0x80) !== 0;
  if (!stabilised || removed) {
    b.reject({
      metric: 'body_weight',
      field: 'weight',
      code: 'DEVICE_FLAGGED',
      reason: removed ? 'load removed' : 'weight not stabilised yet',
      raw: weight,
    });
    return b.build();
  }
  addWeight(b, weight, (ctrl0 & 0x01) !== 0, false);
  // impedance is valid only with ctrl1 bit 1 and once the scale finished measuring it (0xFFFE/0 = none)
  if (ctrl1 & 0x02) b.add('impedance', impedance, 'Ohm');
  return b.build();
}

export const miScaleDriver: Driver = {
  definition: {
    id: 'xiaomi-mi-scale',
    vendor: 'Xiaomi',
    models: ['Mi Smart Scale (XMTZC01HM)', 'Mi Smart Scale 2 (XMTZC04HM)'],
    description: 'Broadcast-only scale: stabilised weight in 0x181D service data',
    match: { serviceDataUuids: ['181d'] },
    priority: 10,
    linkMode: 'broadcast',
    capabilities: {},
    metrics: ['body_weight'],
    quirks: ['broadcast_in_sig_service_data', 'weight_raw_div_200_kg_100_lb'],
  },
  decodeAdvertisement: (adv) => decodeMiScale(adv),
};

export const miBodyCompositionDriver: Driver = {
  definition: {
    id: 'xiaomi-mi-body-composition',
    vendor: 'Xiaomi',
    models: ['Mi Body Composition Scale (XMTZC02HM)', 'Mi Body Composition Scale 2 (XMTZC05HM)'],
    description: 'Broadcast-only scale: stabilised weight and impedance in 0x181B service data',
    match: { serviceDataUuids: ['181b'] },
    priority: 10,
    linkMode: 'broadcast',
    capabilities: {},
    metrics: ['body_weight', 'impedance'],
    quirks: ['broadcast_in_sig_service_data', 'weight_raw_div_200_kg_100_lb', 'impedance_only_when_flagged'],
  },
  decodeAdvertisement: (adv) => decodeMiBodyComposition(adv),
};
