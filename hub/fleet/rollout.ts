import { createHash } from 'node:crypto';

/**
 * Staged rollout, decided by the hub per box: the boxes are ranked by SHA-256(version, gatewayId)
 * and the first ceil(percent x N / 100) get the release. The rank depends on the release, so each
 * release starts on a different slice of the fleet; raising the percentage only adds boxes; and
 * 50 % of 4 boxes is exactly 2.
 */
export function rolloutSelection(gatewayIds: readonly string[], version: string, percent: number): Set<string> {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError('percent: an integer 0-100');
  const rank = (id: string) => createHash('sha256').update(`${version}\0${id}`).digest('hex');
  const ranked = [...new Set(gatewayIds)].sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
  return new Set(ranked.slice(0, Math.ceil((percent * ranked.length) / 100)));
}
