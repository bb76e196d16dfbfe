import type pg from 'pg';
import { verifyArtifact, verifyManifest, type ReleaseManifest } from '../../deploy/release';
import { rolloutSelection } from './rollout';

/**
 * Signed gateway releases and staged rollouts (hub side of the over-the-air updates).
 * A release is accepted only when its manifest signature verifies with the release public key
 * and the artifact is the one the manifest pins; the boxes check both again.
 */
export async function publishRelease(
  pool: pg.Pool,
  r: { manifest: Buffer; signature: string; artifact: Buffer; publicKeyPem: string },
  actor = 'admin',
): Promise<ReleaseManifest> {
  const manifest = verifyManifest(r.manifest, r.signature, r.publicKeyPem);
  verifyArtifact(manifest, r.artifact);
  await pool.query(
    `INSERT INTO gateway_releases (version, manifest, signature, artifact, sha256, published_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (version) DO NOTHING`,
    [manifest.version, r.manifest, r.signature, r.artifact, manifest.sha256, actor],
  );
  await pool.query('INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5)', [
    actor,
    'gateway_release.published',
    'gateway_release',
    manifest.version,
    { sha256: manifest.sha256 },
  ]);
  return manifest;
}

/**
 * Starts (or changes) the rollout of a published release to `percent` of the fleet; it halts on its
 * own once more than `maxFailures` boxes rolled back or refused it (hub/fleet/ota.ts).
 */
export async function startRollout(
  pool: pg.Pool,
  version: string,
  percent: number,
  actor = 'admin',
  maxFailures = 0,
): Promise<void> {
  await pool.query(
    'INSERT INTO gateway_rollouts (version, percent, started_by, max_failures) VALUES ($1, $2, $3, $4)',
    [version, percent, actor, maxFailures],
  );
  await pool.query('INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5)', [
    actor,
    'gateway_rollout.started',
    'gateway_release',
    version,
    { percent },
  ]);
}

export interface RolloutPlan {
  version: string;
  percent: number;
  maxFailures: number;
  /** set when the rollout halted on its own (too many failures) */
  haltedAt: Date | null;
  haltReason: string | null;
  /** not-revoked boxes offered the release */
  offered: string[];
  /** boxes left on their version for now */
  held: string[];
}

/** The current rollout and which boxes it reaches (undefined when nothing is rolling out). */
export async function currentRollout(pool: pg.Pool): Promise<RolloutPlan | undefined> {
  const { rows } = await pool.query<{
    version: string;
    percent: number;
    max_failures: number;
    halted_at: Date | null;
    halt_reason: string | null;
  }>('SELECT version, percent, max_failures, halted_at, halt_reason FROM gateway_rollouts ORDER BY id DESC LIMIT 1');
  const current = rows[0];
  if (!current) return undefined;
  const ids = (
    await pool.query<{ id: string }>('SELECT id FROM gateways WHERE revoked_at IS NULL ORDER BY id')
  ).rows.map((r) => r.id);
  const chosen = rolloutSelection(ids, current.version, current.percent);
  return {
    version: current.version,
    percent: current.percent,
    maxFailures: current.max_failures,
    haltedAt: current.halted_at,
    haltReason: current.halt_reason,
    offered: ids.filter((id) => chosen.has(id)),
    held: ids.filter((id) => !chosen.has(id)),
  };
}

/** Versions the fleet reports (heartbeat), for the fleet view and the rollout's progress. */
export async function fleetVersions(
  pool: pg.Pool,
): Promise<{ version: string; gateways: number; online: number; lastReport: Date | null }[]> {
  const { rows } = await pool.query<{ version: string; gateways: number; online: number; last_report: Date | null }>(
    'SELECT version, gateways, online, last_report FROM grafana.fleet_versions ORDER BY version',
  );
  return rows.map((r) => ({ version: r.version, gateways: r.gateways, online: r.online, lastReport: r.last_report }));
}
