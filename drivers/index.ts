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
} from './shared/current-time';
export { decodeBatteryLevel } from './shared/battery';
export * as racp from './shared/racp';
export * as encoders from './encoders';
