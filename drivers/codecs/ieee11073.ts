import type { ByteReader } from './byte-reader';

/**
 * IEEE 11073-20601 medical number formats, as used by the GATT Specification Supplement
 * (GSS 2.2 "medfloat16" / "medfloat32"). Special values are reported, never turned into numbers.
 */
export type SpecialValue = 'nan' | 'nres' | 'plus_infinity' | 'minus_infinity' | 'reserved';
export type MedFloat = { ok: true; value: number } | { ok: false; special: SpecialValue };

const SFLOAT_SPECIAL: Record<number, SpecialValue> = {
  0x07ff: 'nan',
  0x0800: 'nres',
  0x07fe: 'plus_infinity',
  0x0802: 'minus_infinity',
  0x0801: 'reserved',
};
const FLOAT_SPECIAL: Record<number, SpecialValue> = {
  0x007fffff: 'nan',
  0x00800000: 'nres',
  0x007ffffe: 'plus_infinity',
  0x00800002: 'minus_infinity',
  0x00800001: 'reserved',
};

function scale(mantissa: number, exponent: number): number {
  // dividing by an exact power of ten (10^k, k <= 22) gives the double nearest to the decimal the
  // device expressed: 364 * 10^-1 = 36.4, not 36.400000000000006
  if (exponent < 0) return exponent >= -22 ? mantissa / 10 ** -exponent : mantissa * 10 ** exponent;
  return mantissa * 10 ** exponent;
}

/** SFLOAT: 4-bit signed exponent, 12-bit signed mantissa (IEEE 11073-20601 F.8). */
export function decodeSfloat(raw: number): MedFloat {
  const special = SFLOAT_SPECIAL[raw & 0xffff];
  if (special) return { ok: false, special };
  let mantissa = raw & 0x0fff;
  let exponent = (raw >> 12) & 0x0f;
  if (mantissa >= 0x0800) mantissa -= 0x1000;
  if (exponent >= 0x08) exponent -= 0x10;
  return { ok: true, value: scale(mantissa, exponent) };
}

/** FLOAT: 8-bit signed exponent, 24-bit signed mantissa (IEEE 11073-20601 F.6). */
export function decodeFloat(raw: number): MedFloat {
  const u = raw >>> 0;
  const special = FLOAT_SPECIAL[u];
  if (special) return { ok: false, special };
  let mantissa = u & 0x00ffffff;
  let exponent = (u >>> 24) & 0xff;
  if (mantissa >= 0x00800000) mantissa -= 0x01000000;
  if (exponent >= 0x80) exponent -= 0x100;
  return { ok: true, value: scale(mantissa, exponent) };
}

export function readSfloat(r: ByteReader, what = 'SFLOAT'): MedFloat {
  return decodeSfloat(r.u16(what));
}

export function readFloat(r: ByteReader, what = 'FLOAT'): MedFloat {
  return decodeFloat(r.u32(what));
}

/** Encoders, for simulators and test vectors. */
export function encodeSfloat(value: number, exponent = 0): number {
  const mantissa = Math.round(value / 10 ** exponent);
  if (mantissa < -2046 || mantissa > 2045 || exponent < -8 || exponent > 7)
    throw new RangeError(`SFLOAT cannot hold ${value}e${exponent}`);
  return ((exponent & 0x0f) << 12) | (mantissa & 0x0fff);
}

export function encodeFloat(value: number, exponent = 0): number {
  const mantissa = Math.round(value / 10 ** exponent);
  if (mantissa < -0x7ffffd || mantissa > 0x7ffffd || exponent < -128 || exponent > 127)
    throw new RangeError(`FLOAT cannot hold ${value}e${exponent}`);
  return (((exponent & 0xff) << 24) | (mantissa & 0x00ffffff)) >>> 0;
}
