import type { MetricName } from '../../contract';
import type { DecodeResult, Measurement, RejectedField } from '../sdk/definition';
import type { MedFloat } from './ieee11073';

/** canonical = device value * factor + offset, rounded to `decimals`; `deviceUnit` is kept on the measurement. */
export interface Conversion {
  readonly factor: number;
  readonly offset?: number;
  readonly deviceUnit: string;
  readonly decimals: number;
}

/** Rounds away binary noise: 0.005 * 12350 = 61.75, not 61.750000000000004. */
export function round(value: number, decimals: number): number {
  return Number(value.toFixed(decimals));
}

/** Collects measurements and rejected fields of one packet, sharing its time stamp and flags. */
export class ResultBuilder {
  readonly measurements: Measurement[] = [];
  readonly rejected: RejectedField[] = [];
  info: Record<string, unknown> | undefined;
  common: Pick<Measurement, 'deviceTime' | 'sequence' | 'userIndex' | 'flags'> = {};

  /** Adds a medfloat field, converted by `convert`; special values become rejected fields. */
  medfloat(metric: MetricName, field: string, v: MedFloat, unit: string, convert?: Conversion): void {
    if (!v.ok) {
      this.rejected.push({ metric, field, code: 'SPECIAL_VALUE', reason: `value is ${v.special}`, raw: v.special });
      return;
    }
    this.add(metric, v.value, unit, convert);
  }

  add(metric: MetricName, value: number, unit: string, convert?: Conversion, extra?: Pick<Measurement, 'flags'>): void {
    const m: Measurement = { metric, value, unit };
    if (convert) {
      m.value = round(value * convert.factor + (convert.offset ?? 0), convert.decimals);
      m.deviceUnit = convert.deviceUnit;
    }
    if (extra?.flags?.length) m.flags = extra.flags;
    this.measurements.push(m);
  }

  reject(field: RejectedField): void {
    this.rejected.push(field);
  }

  addInfo(key: string, value: unknown): void {
    this.info = { ...this.info, [key]: value };
  }

  build(): DecodeResult {
    const { deviceTime, sequence, userIndex, flags } = this.common;
    if (deviceTime === undefined && sequence === undefined && userIndex === undefined && !flags?.length) {
      return this.info
        ? { measurements: this.measurements, rejected: this.rejected, info: this.info }
        : { measurements: this.measurements, rejected: this.rejected };
    }
    const c = Object.fromEntries(
      Object.entries(this.common).filter(
        ([, v]: [string, unknown]) => v !== undefined && !(Array.isArray(v) && v.length === 0),
      ),
    );
    const measurements = this.measurements.map((m) => {
      const merged: Measurement = { ...m, ...c };
      if (m.flags?.length && Array.isArray(c.flags)) merged.flags = [...c.flags, ...m.flags];
      return merged;
    });
    return this.info
      ? { measurements, rejected: this.rejected, info: this.info }
      : { measurements, rejected: this.rejected };
  }
}

/** Names of the set bits of `value`, per a table of bit -> name. */
export function bitNames(value: number, names: Record<number, string>): string[] {
  return Object.entries(names)
    .filter(([bit]) => Math.floor(value / 2 ** Number(bit)) % 2 === 1)
    .map(([, name]) => name);
}

/** Unit conversions to canonical units (contract/metrics.ts). Device units are UCUM codes. */
export const KPA_TO_MMHG: Conversion = { factor: 7.500615758, deviceUnit: 'kPa', decimals: 1 };
export const LB_TO_KG: Conversion = { factor: 0.45359237, deviceUnit: '[lb_av]', decimals: 3 };
export const IN_TO_CM: Conversion = { factor: 2.54, deviceUnit: '[in_i]', decimals: 1 };
export const M_TO_CM: Conversion = { factor: 100, deviceUnit: 'm', decimals: 1 };
export const F_TO_C: Conversion = { factor: 5 / 9, offset: (-32 * 5) / 9, deviceUnit: '[degF]', decimals: 2 };
export const KJ_TO_KCAL: Conversion = { factor: 1 / 4.184, deviceUnit: 'kJ', decimals: 1 };
/** glucose: 1 kg/L = 100 000 mg/dL; 18.0156 mg/dL per mmol/L (molar mass 180.156 g/mol) */
export const KG_PER_L_TO_MMOL_PER_L: Conversion = { factor: 100000 / 18.0156, deviceUnit: 'kg/L', decimals: 2 };
export const MOL_PER_L_TO_MMOL_PER_L: Conversion = { factor: 1000, deviceUnit: 'mol/L', decimals: 2 };
