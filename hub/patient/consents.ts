import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';

/** What a consented professional may see, as the patient chooses it (patient_consents.patient_scope). */
export const SCOPES = ['readings', 'messages', 'questionnaires'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ConsentRow {
  professionalId: string;
  displayName: string;
  role: string;
  granted: boolean;
  scope: Scope[];
}

/** The professionals of the patient's care teams, and what each may see. */
export async function readConsents(pool: Pick<pg.Pool, 'query'>, patientId: string): Promise<ConsentRow[]> {
  const { rows } = await pool.query<{
    id: string;
    display_name: string;
    role: string;
    revoked_at: Date | null;
    granted_at: Date | null;
    patient_scope: string[] | null;
  }>(
    `SELECT DISTINCT ON (p.id) p.id, p.display_name, m.role, pc.revoked_at, pc.granted_at, pc.patient_scope
       FROM care_team_patients ctp JOIN care_team_members m ON m.care_team_id = ctp.care_team_id
       JOIN professionals p ON p.id = m.professional_id
       LEFT JOIN patient_consents pc ON pc.patient_id = ctp.patient_id AND pc.professional_id = p.id
      WHERE ctp.patient_id = $1 ORDER BY p.id`,
    [patientId],
  );
  return rows.map((r) => {
    const granted = !!r.granted_at && !r.revoked_at;
    return {
      professionalId: r.id,
      displayName: r.display_name,
      role: r.role,
      granted,
      scope: granted ? ((r.patient_scope ?? [...SCOPES]) as Scope[]) : [],
    };
  });
}

/**
 * Saves the sharing form: fields "<professionalId>:<scope>" = "on". No box ticked for a
 * professional revokes the consent (kept with revoked_at); some boxes grant with that scope.
 * Only professionals of the patient's care teams can be named.
 */
export async function saveConsents(
  pool: pg.Pool,
  patientId: string,
  form: Record<string, unknown>,
  actor: string,
  now: Date,
): Promise<void> {
  const current = await readConsents(pool, patientId);
  await inTransaction(pool, async (c) => {
    for (const row of current) {
      const scope = SCOPES.filter((s) => form[`${row.professionalId}:${s}`] === 'on');
      if (scope.length === 0) {
        if (!row.granted) continue;
        await c.query(
          'UPDATE patient_consents SET revoked_at = $3 WHERE patient_id = $1 AND professional_id = $2 AND revoked_at IS NULL',
          [patientId, row.professionalId, now],
        );
        await audit(c, {
          actor,
          action: 'consent.revoked',
          entity: 'patient',
          entityId: patientId,
          detail: { professionalId: row.professionalId },
          at: now,
        });
        continue;
      }
      const full = scope.length === SCOPES.length ? null : scope;
      await c.query(
        `INSERT INTO patient_consents (patient_id, professional_id, granted_at, recorded_by, revoked_at, patient_scope) VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (patient_id, professional_id) DO UPDATE SET patient_scope = EXCLUDED.patient_scope, recorded_by = EXCLUDED.recorded_by,
           granted_at = CASE WHEN patient_consents.revoked_at IS NULL THEN patient_consents.granted_at ELSE EXCLUDED.granted_at END, revoked_at = NULL`,
        [patientId, row.professionalId, now, actor, full],
      );
      await audit(c, {
        actor,
        action: 'consent.granted',
        entity: 'patient',
        entityId: patientId,
        detail: { professionalId: row.professionalId, scope },
        at: now,
      });
    }
  });
}
