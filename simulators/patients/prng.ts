/**
 * Seeded pseudo-random numbers: mulberry32 (Tommy Ettinger's 32-bit generator, public domain).
 * Same seed -> same sequence on every machine, so a scenario is reproducible byte for byte.
 */
export interface Prng {
  /** uniform in [0, 1) */
  next(): number;
  /** normal(mean, sd), Box-Muller */
  normal(mean: number, sd: number): number;
  /** true with probability p */
  chance(p: number): boolean;
  /** integer in [min, max] */
  int(min: number, max: number): number;
}

export function mulberry32(seed: number): Prng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal(mean, sd) {
      const u = 1 - next(); // (0, 1]: log(0) never happens
      const v = next();
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => next() < p,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
  };
}

/** 32-bit FNV-1a of a string: derives independent sub-seeds ("seed/patient-a/bp"). */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
