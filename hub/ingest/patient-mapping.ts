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
    const [gw, bindings] = await Promise.all([
      this.pool.query<{ patient_id: string | null; stopped: boolean | null }>(
        'SELECT patient_id, vigil_processing_stopped(patient_id) AS stopped FROM gateways WHERE id = $1',
        [gatewayId],
      ),
      this.pool.query<{ address: string; user_index: number | null; patient_id: string; stopped: boolean }>(
        `SELECT address, user_index, patient_id, vigil_processing_stopped(patient_id) AS stopped
         FROM device_bindings WHERE gateway_id = $1`,
        [gatewayId],
      ),
    ]);
    const box = gw.rows[0];
    if (!box) return () => ({ ok: false, reason: 'UNKNOWN_GATEWAY' });
    const boxPatient = box.patient_id;
    const stopped = new Set(bindings.rows.filter((b) => b.stopped).map((b) => b.patient_id));
    if (boxPatient && box.stopped) stopped.add(boxPatient);
    const slots = new Map(bindings.rows.map((b) => [`${b.address}|${b.user_index ?? ''}`, b.patient_id]));
    const boundDevices = new Set(bindings.rows.map((b) => b.address));
    const resolve = (r: Reading): Mapping => {
      const exact = slots.get(`${r.device.address}|${r.userIndex ?? ''}`);
      if (exact) return { ok: true, patientId: exact };
      if (r.userIndex !== undefined) return { ok: false, reason: 'UNKNOWN_USER' };
      if (boundDevices.has(r.device.address)) return { ok: false, reason: 'UNKNOWN_USER' };
      return boxPatient ? { ok: true, patientId: boxPatient } : { ok: false, reason: 'UNBOUND_DEVICE' };
    };
    return (r) => {
      const m = resolve(r);
      return m.ok && stopped.has(m.patientId) ? { ok: false, reason: 'CONSENT_WITHDRAWN' } : m;
    };
  }
}
