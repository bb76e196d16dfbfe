import type pg from 'pg';

/** One row of the append-only access log (migration 102): who read or was refused what. */
export interface AccessEntry {
  actor: string | null;
  role: string | null;
  /** e.g. 'GET /api/patients/:id/readings', 'patient.export' */
  action: string;
  route: string | null;
  patientId: string | null;
  status: number;
  address: string | null;
}

export async function recordAccess(q: Pick<pg.Pool, 'query'>, e: AccessEntry): Promise<void> {
  await q.query(
    `INSERT INTO access_log (actor, role, action, route, patient_id, status, outcome, address)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [e.actor, e.role, e.action, e.route, e.patientId, e.status, e.status < 400 ? 'allowed' : 'refused', e.address],
  );
}

/** The patient a request is about: `:id` under /api/patients, `patient` in a FHIR search. */
export function patientOfRequest(url: string, params: unknown, query: unknown): string | null {
  const p = (params ?? {}) as Record<string, unknown>;
  const q = (query ?? {}) as Record<string, unknown>;
  if (url.startsWith('/api/patients/') && typeof p.id === 'string') return p.id;
  if (url.startsWith('/api/privacy/patients/') && typeof p.id === 'string') return p.id;
  if (url.startsWith('/fhir/') && typeof q.patient === 'string') return q.patient.replace(/^Patient\//, '');
  if (typeof q.patientId === 'string') return q.patientId;
  return null;
}
