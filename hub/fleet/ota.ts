import type { Logger } from 'pino';
import type pg from 'pg';
import type { UpdateReport, UpdateState } from '../../contract';
import { audit } from '../alerts/audit';
import type { GatewayRemoteConfig } from '../gateways/remote-config';
import { rolloutSelection } from './rollout';

/**
 * Over-the-air updates, hub side (docs/operations.md "Over-the-air updates"). The boxes the current
 * rollout chooses (rollout.ts) are offered its release in their retained config; each box reports
 * what it did in its heartbeat (offered -> downloading -> installed [-> waiting] -> switching ->
 * healthy, or rolled_back / refused), recorded per box and release. More failures than the
 * rollout's max_failures halt it: no more offers, and the offers not taken up are withdrawn.
 */
const TERMINAL: readonly UpdateState[] = ['healthy', 'rolled_back', 'refused'];
/** a box withdrew the work itself because the hub withdrew the offer: not a failure of the release */
const WITHDRAWN = 'UPDATE_WITHDRAWN';

export const isFailure = (state: UpdateState, reason?: string | null): boolean =>
  state === 'rolled_back' || (state === 'refused' && reason !== WITHDRAWN);

/**
 * Records a box's report (from its heartbeat) when it changed; only for a release offered to that
 * box, so a box cannot write states for releases it was never offered. Halts the rollout when the
 * failures now exceed its threshold.
 */
export async function recordUpdateReport(
  pool: pg.Pool,
  gatewayId: string,
  r: UpdateReport,
  log?: Logger,
): Promise<{ changed: boolean; halted: boolean }> {
  const reason = r.reason ?? null;
  const { rowCount } = await pool.query(
    `UPDATE gateway_updates SET state = $3, reason = $4, updated_at = now()
     WHERE gateway_id = $1 AND version = $2 AND (state, reason) IS DISTINCT FROM ($3, $4)`,
    [gatewayId, r.version, r.state, reason],
  );
  if (!rowCount) return { changed: false, halted: false };
  await pool.query('INSERT INTO gateway_update_events (gateway_id, version, state, reason) VALUES ($1, $2, $3, $4)', [
    gatewayId,
    r.version,
    r.state,
    reason,
  ]);
  log?.info({ gatewayId, version: r.version, state: r.state, code: reason ?? undefined }, 'gateway update state');
  const halted = isFailure(r.state, reason) ? await haltIfOverThreshold(pool, r.version, log) : false;
  return { changed: true, halted };
}

/** Halts the current rollout of `version` when more boxes failed since it started than it allows. */
export async function haltIfOverThreshold(pool: pg.Pool, version: string, log?: Logger): Promise<boolean> {
  const { rows } = await pool.query<{ id: string; failures: number; max_failures: number }>(
    `WITH current AS (SELECT * FROM gateway_rollouts ORDER BY id DESC LIMIT 1),
          failed AS (
            SELECT count(*)::integer AS n FROM gateway_updates u, current r
            WHERE u.version = r.version AND u.updated_at >= r.started_at
              AND (u.state = 'rolled_back' OR (u.state = 'refused' AND u.reason IS DISTINCT FROM $2)))
     UPDATE gateway_rollouts g
        SET halted_at = now(),
            halt_reason = format('%s boxes failed (rolled back or refused); at most %s allowed', failed.n, g.max_failures)
       FROM current, failed
      WHERE g.id = current.id AND g.version = $1 AND g.halted_at IS NULL AND failed.n > g.max_failures
     RETURNING g.id, failed.n AS failures, g.max_failures`,
    [version, WITHDRAWN],
  );
  const halted = rows[0];
  if (!halted) return false;
  await audit(pool, {
    actor: 'hub',
    action: 'gateway_rollout.halted',
    entity: 'gateway_release',
    entityId: version,
    detail: { failures: halted.failures, maxFailures: halted.max_failures },
    at: new Date(),
  });
  log?.warn(
    { code: 'ROLLOUT_HALTED', version, failures: halted.failures, maxFailures: halted.max_failures },
    'rollout halted',
  );
  return true;
}

/** Per-box update states of a release, for the fleet view. */
export async function updateStates(
  pool: pg.Pool,
  version: string,
): Promise<{ gatewayId: string; state: UpdateState; reason: string | null; updatedAt: Date }[]> {
  const { rows } = await pool.query<{
    gateway_id: string;
    state: UpdateState;
    reason: string | null;
    updated_at: Date;
  }>('SELECT gateway_id, state, reason, updated_at FROM gateway_updates WHERE version = $1 ORDER BY gateway_id', [
    version,
  ]);
  return rows.map((r) => ({ gatewayId: r.gateway_id, state: r.state, reason: r.reason, updatedAt: r.updated_at }));
}

/** Brings the offers in the boxes' retained configs in line with the current rollout. */
export class OtaCoordinator {
  constructor(
    private readonly pool: pg.Pool,
    private readonly remoteConfig: GatewayRemoteConfig,
    private readonly log: Logger,
  ) {}

  async reconcile(): Promise<{ offered: string[]; withdrawn: string[] }> {
    const { rows: rollouts } = await this.pool.query<{
      version: string;
      percent: number;
      halted_at: Date | null;
      sha256: string;
    }>(
      `SELECT r.version, r.percent, r.halted_at, g.sha256
       FROM gateway_rollouts r JOIN gateway_releases g USING (version) ORDER BY r.id DESC LIMIT 1`,
    );
    const rollout = rollouts[0];
    const { rows: boxes } = await this.pool.query<{
      id: string;
      software_version: string | null;
      offer: string | null;
      state: UpdateState | null;
      reason: string | null;
    }>(
      `SELECT g.id, g.software_version, c.config->'update'->>'version' AS offer, u.state, u.reason
       FROM gateways g
       LEFT JOIN gateway_remote_config c ON c.gateway_id = g.id
       LEFT JOIN gateway_updates u ON u.gateway_id = g.id AND u.version = $1
       WHERE g.revoked_at IS NULL ORDER BY g.id`,
      [rollout?.version ?? null],
    );
    const live = rollout && !rollout.halted_at && rollout.percent > 0 ? rollout : undefined;
    const chosen = live
      ? rolloutSelection(
          boxes.map((b) => b.id),
          live.version,
          live.percent,
        )
      : new Set<string>();
    const offered: string[] = [];
    const withdrawn: string[] = [];
    for (const b of boxes) {
      const wanted = live && chosen.has(b.id) && b.software_version !== live.version ? live : undefined;
      // a box's work on this release ended (a withdrawn offer may be offered again)
      const done = b.state !== null && TERMINAL.includes(b.state) && b.reason !== WITHDRAWN;
      if (b.offer && (!wanted || b.offer !== wanted.version || done)) {
        await this.remoteConfig.setUpdateOffer(b.id, undefined, 'hub');
        withdrawn.push(b.id);
      }
      if (!wanted || done || b.offer === wanted.version) continue;
      await this.pool.query(
        `INSERT INTO gateway_updates (gateway_id, version, state) VALUES ($1, $2, 'offered')
         ON CONFLICT (gateway_id, version) DO UPDATE SET state = 'offered', reason = NULL, offered_at = now(), updated_at = now()`,
        [b.id, wanted.version],
      );
      await this.pool.query(
        `INSERT INTO gateway_update_events (gateway_id, version, state) VALUES ($1, $2, 'offered')`,
        [b.id, wanted.version],
      );
      await this.remoteConfig.setUpdateOffer(b.id, { version: wanted.version, sha256: wanted.sha256 }, 'hub');
      offered.push(b.id);
    }
    if (offered.length || withdrawn.length) this.log.info({ offered, withdrawn }, 'gateway update offers');
    return { offered, withdrawn };
  }

  /** reconciles every `everyMs` (the offers follow `rollout` commands run from another process) */
  start(everyMs: number): () => void {
    let running = false;
    const tick = () => {
      if (running) return;
      running = true;
      this.reconcile()
        .catch((e: unknown) =>
          this.log.warn({ code: 'OTA_RECONCILE_FAILED', err: String(e).slice(0, 200) }, 'update offers not reconciled'),
        )
        .finally(() => (running = false));
    };
    tick();
    const timer = setInterval(tick, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
