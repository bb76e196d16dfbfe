import type pg from 'pg';
import { remoteGatewayConfigSchema, type RemoteGatewayConfig } from '../../contract';
import { audit, inTransaction } from '../alerts/audit';
import type { Clock } from '../rules/clock';

/** Longest pairing window the hub opens: a home visit, not an open door (ble-field-notes: pairing only on request). */
export const MAX_PAIRING_WINDOW_S = 900;

export interface PairingWindow {
  gatewayId: string;
  openUntil: string;
  minRssi?: number;
}

/**
 * The settings the hub holds for each box (contract/remote-config.ts), kept in PostgreSQL and
 * published retained on vigil/v1/<gatewayId>/config. The box merges them over its local config,
 * so a pairing window opened here lets that box pair the patient's new device without anyone
 * touching the box. Every change is audited.
 */
export class GatewayRemoteConfig {
  constructor(
    private readonly pool: pg.Pool,
    private readonly publish: (gatewayId: string, payload: string) => Promise<void>,
    private readonly clock: Clock,
  ) {}

  /** Opens (or re-opens) the box's pairing window for `seconds` from now. */
  async openPairingWindow(
    gatewayId: string,
    w: { seconds: number; minRssi?: number },
    actor: string,
  ): Promise<PairingWindow> {
    const seconds = Math.min(Math.max(1, Math.round(w.seconds)), MAX_PAIRING_WINDOW_S);
    const openUntil = new Date(this.clock.now().getTime() + seconds * 1000).toISOString();
    await this.update(
      gatewayId,
      (c) => ({
        ...c,
        pairing: { ...c.pairing, openUntil, ...(w.minRssi !== undefined ? { minRssi: w.minRssi } : {}) },
      }),
      actor,
      'gateway.pairing_window_opened',
      { seconds },
    );
    return { gatewayId, openUntil, ...(w.minRssi !== undefined ? { minRssi: w.minRssi } : {}) };
  }

  /**
   * Relays the six digits a device displays while pairing (passkey entry): the nurse types what
   * the patient reads from the cuff screen; the box's pairing agent answers bluetoothd with them.
   * Only during an open window; the code is valid `seconds` and never written to the audit trail.
   */
  async relayPasskey(
    gatewayId: string,
    p: { address: string; passkey: string; seconds?: number },
    actor: string,
  ): Promise<{ gatewayId: string; address: string; until: string }> {
    const now = this.clock.now().getTime();
    const until = new Date(now + Math.min(Math.max(10, p.seconds ?? 120), MAX_PAIRING_WINDOW_S) * 1000).toISOString();
    const address = p.address.toUpperCase();
    await this.update(
      gatewayId,
      (c) => {
        const open = c.pairing?.openUntil !== undefined && Date.parse(c.pairing.openUntil) > now;
        if (!open) throw Object.assign(new Error('no pairing window open on this box'), { code: 'CONFLICT' });
        return { ...c, pairing: { ...c.pairing, passkey: { address, passkey: p.passkey, until } } };
      },
      actor,
      'gateway.pairing_passkey_relayed',
      { address },
    );
    return { gatewayId, address, until };
  }

  /** Closes the window now (the box stops pairing within a second of receiving it). */
  async closePairingWindow(gatewayId: string, actor: string): Promise<PairingWindow> {
    const openUntil = this.clock.now().toISOString();
    await this.update(
      gatewayId,
      // a relayed passkey goes with the window
      (c) => ({ ...c, pairing: { ...c.pairing, openUntil, passkey: undefined } }),
      actor,
      'gateway.pairing_window_closed',
      {},
    );
    return { gatewayId, openUntil };
  }

  /**
   * Offers a gateway release to the box (hub/fleet/ota.ts), or withdraws the offer (undefined).
   * The box fetches and checks it itself (gateway/update/ota-agent.ts).
   */
  async setUpdateOffer(gatewayId: string, offer: RemoteGatewayConfig['update'], actor: string): Promise<void> {
    await this.update(
      gatewayId,
      (c) => ({ ...c, update: offer }),
      actor,
      offer ? 'gateway.update_offered' : 'gateway.update_withdrawn',
      offer ? { version: offer.version } : {},
    );
  }

  /** Publishes every stored config again (an embedded broker forgets retained messages when the hub restarts). */
  async republishAll(): Promise<number> {
    const { rows } = await this.pool.query<{ gateway_id: string; config: unknown }>(
      'SELECT gateway_id, config FROM gateway_remote_config ORDER BY gateway_id',
    );
    for (const r of rows) await this.publish(r.gateway_id, JSON.stringify(remoteGatewayConfigSchema.parse(r.config)));
    return rows.length;
  }

  /** read-modify-write under a per-gateway lock (two hub instances may serve the API), published after commit */
  private async update(
    gatewayId: string,
    change: (c: RemoteGatewayConfig) => RemoteGatewayConfig,
    actor: string,
    action: string,
    detail: object,
  ): Promise<void> {
    const next = await inTransaction(this.pool, async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('vigil-gateway-config:' || $1))`, [gatewayId]);
      const { rows } = await c.query<{ config: unknown }>(
        'SELECT config FROM gateway_remote_config WHERE gateway_id = $1',
        [gatewayId],
      );
      const config = remoteGatewayConfigSchema.parse(
        change(rows[0] ? remoteGatewayConfigSchema.parse(rows[0].config) : {}),
      );
      const at = this.clock.now();
      await c.query(
        `INSERT INTO gateway_remote_config (gateway_id, config, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (gateway_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        [gatewayId, JSON.stringify(config), at, actor],
      );
      await audit(c, {
        actor,
        action,
        entity: 'gateway',
        entityId: gatewayId,
        // never the passkey itself: it is a credential, however short-lived
        detail: { ...detail, ...config.pairing, passkey: undefined },
        at,
      });
      return config;
    });
    await this.publish(gatewayId, JSON.stringify(next));
  }
}
