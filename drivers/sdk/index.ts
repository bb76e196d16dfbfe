/** The driver SDK: everything an integrator's driver module needs (drivers/README.md). */
export * from './definition';
export * from './errors';
export * from './uuid';
export * from './compose';
export * from './session';
export {
  DriverRegistry,
  DriverLoadError,
  applyPlausibility,
  type LoadedDriver,
  type DecodeOutcome,
  type RegistryCounters,
} from './registry';
export { loadDriversFromFolder, type FolderLoadResult } from './loader';
export { ByteReader } from '../codecs/byte-reader';
export {
  ResultBuilder,
  bitNames,
  round,
  type Conversion,
  KPA_TO_MMHG,
  LB_TO_KG,
  F_TO_C,
  KJ_TO_KCAL,
} from '../codecs/fields';
export {
  readSfloat,
  readFloat,
  decodeSfloat,
  decodeFloat,
  encodeSfloat,
  encodeFloat,
  type MedFloat,
} from '../codecs/ieee11073';
export { readDateTime, encodeDateTime } from '../codecs/date-time';
export { readTimeStamp, readUserId } from '../codecs/common';
export { battery } from '../common/battery';
export { currentTime } from '../common/current-time';
export { deviceInformation } from '../common/device-information';
