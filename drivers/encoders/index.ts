/** Byte-exact encoders for simulators and tests: one module per profile. */
export * from './activity';
export * from './blood-pressure';
export * from './body-composition';
export * from './glucose';
export * from './heart-rate';
export * from './pulse-oximeter';
export * from './thermometer';
export * from './weight-scale';
export * from './vendors';
export { ByteWriter, sfloatExponent, type DateTimeFields } from './bytes';
export { encodeCurrentTime, localTimeOf, decodeCurrentTime } from '../common/current-time';
export { encodeBatteryLevel } from '../common/battery';
export { parseRacpResponse } from '../common/racp';
export { contecChecksum } from '../vendors/contec';
export { encodeSfloat, encodeFloat } from '../codecs/ieee11073';
export { encodeDateTime } from '../codecs/date-time';
