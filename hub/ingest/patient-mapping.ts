import { named } from '../storage/postgres/named';
import type pg from 'pg';
import type { Reading } from '../../contract';

export type Mapping =
  | { ok: true; patientId: string }
  | { ok: false; reason: 'UNKNOWN_GATEWAY' | 'UNBOUND_DEVICE' | 'UNKNOWN_USER' | 'CONSENT_WITHDRAWN' };

/**
 * Files a reading to a patient: the binding of (gateway, device, user slot) wins; a reading with no
 * user index from an unbound device goes to the box's patient; a user index that is not bound is
 * never guessed (multi-user scale, openScale #153/#303): the reading is quarantined.
 * A patient who withdrew consent (migration 100, vigil_processing_stopped) is not filed either:
 * the reading is quarantined as CONSENT_WITHDRAWN, so no rule, notification or webhook follows.
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
      this.pool.query<{ id: string; patient_id: string | null; stopped: boolean | null }>(
        named(
          'SELECT id, patient_id, vigil_processing_stopped(patient_id) AS stopped FROM gateways WHERE id = ANY($1::text[])',
        ),
        [ids],
      ),
      this.pool.query<{
        gateway_id: string;
        address: string;
        user_index: number | null;
        patient_id: string;
        stopped: boolean;
      }>(
        named(`SELECT gateway_id, address, user_index, patient_id, vigil_processing_stopped(patient_id) AS stopped
         FROM device_bindings WHERE gateway_id = ANY($1::text[])`),
        [ids],
      ),
    ]);
    const boxes = new Map(gws.rows.map((g) => [g.id, g]));
    const byGateway = new Map<string, typeof bindings.rows>();
    for (const b of bindings.rows) byGateway.set(b.gateway_id, [...(byGateway.get(b.gateway_id) ?? []), b]);
    const out = new Map<string, (r: Reading) => Mapping>();
    for (const id of ids) {
      const box = boxes.get(id);
      if (!box) {
        out.set(id, unknownGateway);
        continue;
      }
      const boxPatient = box.patient_id;
      const own = byGateway.get(id) ?? [];
      const stopped = new Set(own.filter((b) => b.stopped).map((b) => b.patient_id));
      if (boxPatient && box.stopped) stopped.add(boxPatient);
      const slots = new Map(own.map((b) => [`${b.address}|${b.user_index ?? ''}`, b.patient_id]));
      const boundDevices = new Set(own.map((b) => b.address));
      const resolve = (r: Reading): Mapping => {
        const exact = slots.get(`${r.device.address}|${r.userIndex ?? ''}`);
        if (exact) return { ok: true, patientId: exact };
        if (r.userIndex !== undefined) return { ok: false, reason: 'UNKNOWN_USER' };
        if (boundDevices.has(r.device.address)) return { ok: false, reason: 'UNKNOWN_USER' };
        return boxPatient ? { ok: true, patientId: boxPatient } : { ok: false, reason: 'UNBOUND_DEVICE' };
      };
      out.set(id, (r) => {
        const m = resolve(r);
        return m.ok && stopped.has(m.patientId) ? { ok: false, reason: 'CONSENT_WITHDRAWN' } : m;
      });
    }
    return (gatewayId) => out.get(gatewayId) ?? unknownGateway;
  }
}

const unknownGateway = (): Mapping => ({ ok: false, reason: 'UNKNOWN_GATEWAY' });
