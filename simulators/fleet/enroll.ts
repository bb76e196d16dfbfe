import type pg from 'pg';
import { bindDevice, createGateway, createPatient } from '../../hub';
import type { HouseholdBacklog } from './backlog';

/**
 * Enrolls each simulated household through the hub's own enrollment operations
 * (hub/admin/provisioning.ts): its patients, its gateway (the first patient is the box's), and
 * every device slot (address + user index). Returns each gateway's MQTT password.
 */
export async function enrollHouseholds(
  pool: pg.Pool,
  households: readonly Pick<HouseholdBacklog, 'gatewayId' | 'patients'>[],
  concurrency = 8,
): Promise<Map<string, string>> {
  const passwords = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    let h;
    while ((h = households[next++])) {
      for (const p of h.patients)
        await createPatient(
          pool,
          { id: p.id, programId: p.program, displayName: `Simulated ${p.id}` },
          'fleet-simulator',
        );
      const [main] = h.patients;
      if (!main) throw new Error(`household ${h.gatewayId} has no patient`);
      const { password } = await createGateway(pool, { id: h.gatewayId, patientId: main.id }, 'fleet-simulator');
      for (const p of h.patients) {
        for (const d of p.devices) {
          await bindDevice(
            pool,
            {
              gatewayId: h.gatewayId,
              address: d.address,
              driver: d.driver,
              patientId: p.id,
              ...(d.userIndex !== undefined ? { userIndex: d.userIndex } : {}),
            },
            'fleet-simulator',
          );
        }
      }
      passwords.set(h.gatewayId, password);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return passwords;
}
