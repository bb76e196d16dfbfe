import { encodeDateTime } from '../codecs/date-time';
import { encodeFloat, encodeSfloat } from '../codecs/ieee11073';

/** Little-endian packet writer for the encoders (GSS: multi-octet fields are little-endian). */
export class ByteWriter {
  private readonly out: number[] = [];
  u8(v: number): this {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >> 8);
  }
  u24(v: number): this {
    return this.u16(v).u8(v >> 16);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16((v >>> 16) & 0xffff);
  }
  sfloat(value: number, exponent = 0): this {
    return this.u16(encodeSfloat(value, exponent));
  }
  float(value: number, exponent = 0): this {
    return this.u32(encodeFloat(value, exponent));
  }
  dateTime(t: DateTimeFields): this {
    for (const b of encodeDateTime(t)) this.u8(b);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** Largest exponent (0 down to -maxDecimals) that keeps `value` exact: 124 -> 124e0, 10.7 -> 107e-1. */
export function sfloatExponent(value: number, maxDecimals = 2): number {
  for (let e = 0; e >= -maxDecimals; e--) {
    const m = Math.round(value / 10 ** e);
    if (Math.abs(m) <= 2045 && Math.abs(m * 10 ** e - value) < 1e-9) return e;
  }
  return 0;
}
