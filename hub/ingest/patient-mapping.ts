import type pg from 'pg';
import type { Reading } from '../../contract';

export type Mapping =
  { ok: true; patientId: string } | { ok: false; reason: 'UNKNOWN_GATEWAY' | 'UNBOUND_DEVICE' | 'UNKNOWN_USER' };

/**
 * Files a reading to a patient: the binding of (gateway, device, user slot) wins; a reading with no
 * user index from an unbound device goes to the box's patient; a user index that is not bound is
 * never guessed (multi-user scale, openScale #153/#303): the reading is quarantined.
 */
export class PatientMapper {
  constructor(private readonly pool: pg.Pool) {}

  async forGateway(gatewayId: string): Promise<(r: Reading) => Mapping> {
    return (await this.forGateways([gatewayId]))(gatewayId);
  }

  /**
   * The mappings of many gateways with two queries in all (a group of batches filed at once);
   * a gateway not asked for maps as unknown.
   */
  async forGateways(gatewayIds: readonly string[]): Promise<(gatewayId: string) => (r: Reading) => Mapping> {
    const ids = [...new Set(gatewayIds)];
    const [gws, bindings] = await Promise.all([
      this.pool.query<{ id: string; patient_id: string | null }>(
        'SELECT id, patient_id FROM gateways WHERE id = ANY($1::text[])',
        [ids],
      ),
      this.pool.query<{ gateway_id: string; address: string; user_index: number | null; patient_id: string }>(
        'SELECT gateway_id, address, user_index, patient_id FROM device_bindings WHERE gateway_id = ANY($1::text[])',
        [ids],
      ),
    ]);
    const boxPatients = new Map(gws.rows.map((g) => [g.id, g.patient_id]));
    const byGateway = new Map<string, typeof bindings.rows>();
    for (const b of bindings.rows) byGateway.set(b.gateway_id, [...(byGateway.get(b.gateway_id) ?? []), b]);
    const out = new Map<string, (r: Reading) => Mapping>();
    for (const id of ids) {
      const boxPatient = boxPatients.get(id);
      if (boxPatient === undefined) {
        out.set(id, unknownGateway);
        continue;
      }
      const own = byGateway.get(id) ?? [];
      const slots = new Map(own.map((b) => [`${b.address}|${b.user_index ?? ''}`, b.patient_id]));
      const boundDevices = new Set(own.map((b) => b.address));
      out.set(id, (r) => {
        const exact = slots.get(`${r.device.address}|${r.userIndex ?? ''}`);
        if (exact) return { ok: true, patientId: exact };
        if (r.userIndex !== undefined) return { ok: false, reason: 'UNKNOWN_USER' };
        if (boundDevices.has(r.device.address)) return { ok: false, reason: 'UNKNOWN_USER' };
        return boxPatient ? { ok: true, patientId: boxPatient } : { ok: false, reason: 'UNBOUND_DEVICE' };
      });
    }
    return (gatewayId) => out.get(gatewayId) ?? unknownGateway;
  }
}

const unknownGateway = (): Mapping => ({ ok: false, reason: 'UNKNOWN_GATEWAY' });
