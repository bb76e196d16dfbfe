/** Public surface of drivers/ for the gateway and simulators. */
export * from './sdk';
export { BUILTIN_DRIVERS, builtinRegistry } from './builtin';
export { decodeBloodPressure } from './standard/blood-pressure';
export {
  decodeCurrentTime,
  encodeCurrentTime,
  localTimeOf,
  type CurrentTime,
  type LocalTime,
} from './common/current-time';
export { decodeBatteryLevel } from './common/battery';
export * as racp from './common/racp';
export * as encoders from './encoders';
