import quantile from '@stdlib/stats-base-dists-t-quantile';

/** Mean with its two-sided 95 % confidence interval (Student's t, n - 1 degrees of freedom). */
export interface MeanCI {
  n: number;
  mean: number;
  sd: number;
  ciLow: number;
  ciHigh: number;
}

export function meanWithCI(values: readonly number[], level = 0.95): MeanCI | null {
  const n = values.length;
  if (n < 2) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = quantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ciLow: mean - half, ciHigh: mean + half };
}

/** The p-quantile of sorted values by linear interpolation (the default of R and numpy). */
export function percentile(sorted: readonly number[], p: number): number | null {
  const h = (sorted.length - 1) * p;
  const lo = sorted[Math.floor(h)];
  const hi = sorted[Math.min(Math.floor(h) + 1, sorted.length - 1)];
  if (lo === undefined || hi === undefined) return null;
  return lo + (h - Math.floor(h)) * (hi - lo);
}
