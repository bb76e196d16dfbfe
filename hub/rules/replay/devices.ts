import {
  encodeBloodPressureMeasurement,
  encodeGlucoseMeasurement,
  encodePlxSpotCheck,
  encodeTemperatureMeasurement,
  encodeWeightMeasurement,
  type DateTimeFields,
} from '../../../drivers/encoders';
import { utcToLocalIso } from '../../../gateway/time/local-time';
import type { ScenarioDevice } from './scenario';

/** Driver and characteristic of each profile: the standard Bluetooth SIG drivers of drivers/standard. */
export const PROFILE_GATT: Record<ScenarioDevice['profile'], { driver: string; characteristic: string }> = {
  blood_pressure: { driver: 'sig-blood-pressure', characteristic: '2a35' },
  weight_scale: { driver: 'sig-weight-scale', characteristic: '2a9d' },
  thermometer: { driver: 'sig-health-thermometer', characteristic: '2a1c' },
  pulse_oximeter: { driver: 'sig-pulse-oximeter', characteristic: '2a5e' },
  glucose_meter: { driver: 'sig-glucose', characteristic: '2a18' },
};

export type MeasureValues = Partial<
  Record<'systolic' | 'diastolic' | 'pulse' | 'weight' | 'temperature' | 'spo2' | 'glucose', number>
>;

const KPA_PER_MMHG = 0.133322;
const LB_PER_KG = 2.20462;
/** glucose molar mass 180.16 g/mol */
const MG_DL_PER_MMOL_L = 18.016;

/** The device's clock reading at a true instant: local wall time plus its offset; none for clockless devices. */
export function deviceClockAt(device: ScenarioDevice, trueTime: Date, timeZone: string): DateTimeFields | undefined {
  if (device.clock === 'none') return undefined;
  const offsetMs = device.clock === 'synced' ? 0 : device.clock.offsetMinutes * 60_000;
  const iso = utcToLocalIso(new Date(trueTime.getTime() + offsetMs), timeZone);
  const [year, month, day, hours, minutes, seconds] = [
    iso.slice(0, 4),
    iso.slice(5, 7),
    iso.slice(8, 10),
    iso.slice(11, 13),
    iso.slice(14, 16),
    iso.slice(17, 19),
  ].map(Number) as [number, number, number, number, number, number];
  return { year, month, day, hours, minutes, seconds };
}

/** The offset the gateway measures at connection (device minus gateway clock), when it can. */
export function measuredOffsetMs(device: ScenarioDevice): number | undefined {
  if (device.clock === 'synced') return 0;
  if (device.clock === 'none' || !device.clock.timeService) return undefined;
  return device.clock.offsetMinutes * 60_000;
}

/**
 * Encodes one measurement as the device's own GATT packet, in the device's unit, as the real
 * device would send it (byte-exact encoders of drivers/encoders).
 */
export function encodeMeasurement(
  device: ScenarioDevice,
  v: MeasureValues,
  timeStamp: DateTimeFields | undefined,
  sequence: number,
): Uint8Array {
  const need = (k: keyof MeasureValues): number => {
    const x = v[k];
    if (x === undefined) throw new Error(`REPLAY_BAD_EVENT: ${device.profile} measurement needs ${k}`);
    return x;
  };
  switch (device.profile) {
    case 'blood_pressure': {
      const kpa = device.unit === 'kPa';
      const conv = (x: number) => (kpa ? Math.round(x * KPA_PER_MMHG * 10) / 10 : x);
      const sys = need('systolic');
      const dia = need('diastolic');
      return encodeBloodPressureMeasurement({
        systolic: conv(sys),
        diastolic: conv(dia),
        map: conv(Math.round(dia + (sys - dia) / 3)),
        unit: kpa ? 'kPa' : 'mmHg',
        ...(timeStamp ? { timeStamp } : {}),
        ...(v.pulse !== undefined ? { pulseRate: v.pulse } : {}),
      });
    }
    case 'weight_scale': {
      const lb = device.unit === 'lb';
      const kg = need('weight');
      return encodeWeightMeasurement({
        weight: lb ? Math.round(kg * LB_PER_KG * 100) / 100 : kg,
        imperial: lb,
        ...(timeStamp ? { timeStamp } : {}),
      });
    }
    case 'thermometer': {
      const f = device.unit === 'degF';
      const c = need('temperature');
      return encodeTemperatureMeasurement({
        value: f ? Math.round(((c * 9) / 5 + 32) * 10) / 10 : c,
        fahrenheit: f,
        ...(timeStamp ? { timeStamp } : {}),
        // GSS Temperature Type 6: mouth (fever rules use oral readings)
        type: 6,
      });
    }
    case 'pulse_oximeter':
      return encodePlxSpotCheck({
        spo2: need('spo2'),
        pulseRate: need('pulse'),
        ...(timeStamp ? { timeStamp } : {}),
      });
    case 'glucose_meter':
      if (!timeStamp) throw new Error('REPLAY_BAD_EVENT: a glucose meter always stamps its records (GSS 3.106)');
      return encodeGlucoseMeasurement({
        sequence,
        baseTime: timeStamp,
        concentration:
          device.unit === 'mg/dL'
            ? { value: Math.round(need('glucose') * MG_DL_PER_MMOL_L), unit: 'mg/dL' }
            : { value: need('glucose'), unit: 'mmol/L' },
      });
  }
}
