import type { Driver } from './sdk/definition';
import { DriverRegistry } from './sdk/registry';
import { bloodPressureDriver } from './standard/blood-pressure';
import { bodyCompositionDriver } from './standard/body-composition';
import { glucoseDriver } from './standard/glucose';
import { healthThermometerDriver } from './standard/health-thermometer';
import { heartRateDriver } from './standard/heart-rate';
import { physicalActivityMonitorDriver } from './standard/physical-activity-monitor';
import { pulseOximeterDriver } from './standard/pulse-oximeter';
import { runningSpeedCadenceDriver } from './standard/running-speed-cadence';
import { weightScaleDriver } from './standard/weight-scale';
import { contecCms50dDriver } from './vendors/contec';
import { oemBpBigEndianCuffDriver, oemBpmCuffDriver } from './vendors/oem-bp-cuff';
import { omronDriver } from './vendors/omron';
import { andBloodPressureDriver, andWeightScaleDriver } from './vendors/and';
import { miBodyCompositionDriver, miScaleDriver } from './vendors/xiaomi';

/** Every driver shipped with Vigil. A test checks this list against the driver folders. */
export const BUILTIN_DRIVERS: readonly Driver[] = [
  bloodPressureDriver,
  weightScaleDriver,
  bodyCompositionDriver,
  healthThermometerDriver,
  pulseOximeterDriver,
  glucoseDriver,
  heartRateDriver,
  runningSpeedCadenceDriver,
  physicalActivityMonitorDriver,
  oemBpmCuffDriver,
  oemBpBigEndianCuffDriver,
  miScaleDriver,
  miBodyCompositionDriver,
  contecCms50dDriver,
  omronDriver,
  andBloodPressureDriver,
  andWeightScaleDriver,
];

export function builtinRegistry(): DriverRegistry {
  const registry = new DriverRegistry();
  for (const d of BUILTIN_DRIVERS) registry.register(d, 'builtin');
  return registry;
}
