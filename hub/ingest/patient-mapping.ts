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
    const [gw, bindings] = await Promise.all([
      this.pool.query<{ patient_id: string | null }>('SELECT patient_id FROM gateways WHERE id = $1', [gatewayId]),
      this.pool.query<{ address: string; user_index: number | null; patient_id: string }>(
        'SELECT address, user_index, patient_id FROM device_bindings WHERE gateway_id = $1',
        [gatewayId],
      ),
    ]);
    const gateway = gw.rows[0];
    if (!gateway) return () => ({ ok: false, reason: 'UNKNOWN_GATEWAY' });
    const boxPatient = gateway.patient_id;
    const slots = new Map(bindings.rows.map((b) => [`${b.address}|${b.user_index ?? ''}`, b.patient_id]));
    const boundDevices = new Set(bindings.rows.map((b) => b.address));
    return (r) => {
      const exact = slots.get(`${r.device.address}|${r.userIndex ?? ''}`);
      if (exact) return { ok: true, patientId: exact };
      if (r.userIndex !== undefined) return { ok: false, reason: 'UNKNOWN_USER' };
      if (boundDevices.has(r.device.address)) return { ok: false, reason: 'UNKNOWN_USER' };
      return boxPatient ? { ok: true, patientId: boxPatient } : { ok: false, reason: 'UNBOUND_DEVICE' };
    };
  }
}
