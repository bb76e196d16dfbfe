import type pg from 'pg';
import { gatewayIdSchema, patientIdSchema, bleAddressSchema } from '../../contract';
import { generateSecret, hashSecret } from '../security/secrets';
import { firstRow } from '../storage/postgres/rows';

/**
 * Enrollment operations used by the CLI, the demo and the tests (the HTTP enrollment endpoints
 * call the same functions). Secrets are returned once and only their hash is stored.
 */
export type Program = 'oral_chemotherapy' | 'cardiovascular_prevention' | 'heart_failure';

/** Stable codes of enrollment refusals; the API answers them with 409 (or 400 for INVALID_ROLE). */
export type ProvisioningErrorCode =
  'PATIENT_EXISTS' | 'DEVICE_BOUND_ELSEWHERE' | 'GATEWAY_OTHER_HOUSEHOLD' | 'PROGRAM_MISMATCH' | 'INVALID_ROLE';

export class ProvisioningError extends Error {
  constructor(
    readonly code: ProvisioningErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProvisioningError';
  }
}

async function audit(
  pool: pg.Pool,
  actor: string,
  action: string,
  entity: string,
  entityId: string,
  detail: object = {},
): Promise<void> {
  await pool.query('INSERT INTO audit_log (actor, action, entity, entity_id, detail) VALUES ($1, $2, $3, $4, $5)', [
    actor,
    action,
    entity,
    entityId,
    detail,
  ]);
}

export async function createPatient(
  pool: pg.Pool,
  p: { id: string; programId: Program; displayName: string; birthYear?: number; chronicLungDisease?: boolean },
  actor = 'admin',
): Promise<void> {
  patientIdSchema.parse(p.id);
  // never an upsert: re-posting another team's patient id must not take the record over
  const { rowCount } = await pool.query(
    `INSERT INTO patients (id, program_id, display_name, birth_year, chronic_lung_disease) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [p.id, p.programId, p.displayName, p.birthYear ?? null, p.chronicLungDisease ?? false],
  );
  if (!rowCount) throw new ProvisioningError('PATIENT_EXISTS', `patient ${p.id} is already enrolled`);
  await audit(pool, actor, 'patient.enrolled', 'patient', p.id, { programId: p.programId });
}

/** Creates (or re-keys) a gateway for a household; returns its MQTT password, shown once. */
export async function createGateway(
  pool: pg.Pool,
  g: { id: string; patientId: string },
  actor = 'admin',
): Promise<{ password: string }> {
  gatewayIdSchema.parse(g.id);
  const password = generateSecret();
  // re-keying stays possible for the same household; a box never moves to another one this way
  const { rowCount } = await pool.query(
    `INSERT INTO gateways (id, patient_id, credential_hash) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET credential_hash = EXCLUDED.credential_hash, revoked_at = NULL
     WHERE gateways.patient_id IS NOT DISTINCT FROM EXCLUDED.patient_id`,
    [g.id, g.patientId, hashSecret(password)],
  );
  if (!rowCount) throw new ProvisioningError('GATEWAY_OTHER_HOUSEHOLD', `gateway ${g.id} serves another household`);
  await audit(pool, actor, 'gateway.credential_issued', 'gateway', g.id);
  return { password };
}

export async function revokeGateway(pool: pg.Pool, gatewayId: string, actor = 'admin'): Promise<void> {
  await pool.query('UPDATE gateways SET revoked_at = now() WHERE id = $1', [gatewayId]);
  await audit(pool, actor, 'gateway.revoked', 'gateway', gatewayId);
}

/** Binds a device (or one user slot of a multi-user device) on a gateway to a patient. */
export async function bindDevice(
  pool: pg.Pool,
  b: { gatewayId: string; address: string; patientId: string; driver?: string; userIndex?: number },
  actor = 'admin',
): Promise<void> {
  const address = bleAddressSchema.parse(b.address);
  // a binding already held by another patient is never moved silently (readings would change series)
  const { rowCount } = await pool.query(
    `INSERT INTO device_bindings (gateway_id, address, driver, user_index, patient_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (gateway_id, address, coalesce(user_index, -1)) DO UPDATE SET driver = EXCLUDED.driver
     WHERE device_bindings.patient_id = EXCLUDED.patient_id`,
    [b.gatewayId, address, b.driver ?? null, b.userIndex ?? null, b.patientId],
  );
  if (!rowCount)
    throw new ProvisioningError(
      'DEVICE_BOUND_ELSEWHERE',
      `device ${address} on ${b.gatewayId} is bound to another patient`,
    );
  await audit(pool, actor, 'device.bound', 'gateway', b.gatewayId, {
    address,
    userIndex: b.userIndex ?? null,
    patientId: b.patientId,
  });
}

/** Ends a patient's binding of a device (the device may then be bound to someone else); false when none. */
export async function unbindDevice(
  pool: pg.Pool,
  b: { gatewayId: string; address: string; patientId: string; userIndex?: number },
  actor = 'admin',
): Promise<boolean> {
  const address = bleAddressSchema.parse(b.address);
  const { rowCount } = await pool.query(
    `DELETE FROM device_bindings WHERE gateway_id = $1 AND address = $2 AND coalesce(user_index, -1) = $3 AND patient_id = $4`,
    [b.gatewayId, address, b.userIndex ?? -1, b.patientId],
  );
  if (rowCount)
    await audit(pool, actor, 'device.unbound', 'gateway', b.gatewayId, {
      address,
      userIndex: b.userIndex ?? null,
      patientId: b.patientId,
    });
  return Boolean(rowCount);
}

export const PROFESSIONAL_ROLES = [
  'coordinating_nurse',
  'oncologist',
  'cardiologist',
  'general_practitioner',
  'pharmacist',
  'home_nurse',
  'coaching_nurse',
  'dietitian',
  'psychologist',
  'tobacco_specialist',
  'physical_activity_coach',
  'admin',
] as const;
export type ProfessionalRole = (typeof PROFESSIONAL_ROLES)[number];

/** Creates a professional and returns a new API bearer token, shown once. */
export async function createProfessional(
  pool: pg.Pool,
  p: { id: string; displayName: string; role: ProfessionalRole },
  actor = 'admin',
): Promise<{ token: string }> {
  const token = generateSecret();
  await pool.query(
    `INSERT INTO professionals (id, display_name, role, token_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role, token_hash = EXCLUDED.token_hash`,
    [p.id, p.displayName, p.role, hashSecret(token)],
  );
  await audit(pool, actor, 'professional.token_issued', 'professional', p.id, { role: p.role });
  return { token };
}

/* ---- Care teams and consent (issue 5 item 3, issue 6 authorization) ---- */

export type CareRole = Exclude<ProfessionalRole, 'admin'>;

export async function createCareTeam(
  pool: pg.Pool,
  t: { id: string; programId: Program; name: string },
  actor = 'admin',
): Promise<void> {
  await pool.query(
    `INSERT INTO care_teams (id, program_id, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET program_id = EXCLUDED.program_id, name = EXCLUDED.name`,
    [t.id, t.programId, t.name],
  );
  await audit(pool, actor, 'care_team.created', 'care_team', t.id, { programId: t.programId });
}

/** Adds a professional to a care team with a role (default: the professional's own role). */
export async function addCareTeamMember(
  pool: pg.Pool,
  m: { careTeamId: string; professionalId: string; role?: CareRole },
  actor = 'admin',
): Promise<void> {
  const { rows } = await pool.query<{ role: string }>('SELECT role FROM professionals WHERE id = $1', [
    m.professionalId,
  ]);
  const role = m.role ?? rows[0]?.role;
  if (!role || role === 'admin')
    throw new ProvisioningError('INVALID_ROLE', 'a care-team member needs a clinical role');
  await pool.query(
    `INSERT INTO care_team_members (care_team_id, professional_id, role) VALUES ($1, $2, $3)
     ON CONFLICT (care_team_id, professional_id) DO UPDATE SET role = EXCLUDED.role`,
    [m.careTeamId, m.professionalId, role],
  );
  await audit(pool, actor, 'care_team.member_added', 'care_team', m.careTeamId, {
    professionalId: m.professionalId,
    role,
  });
}

export async function addPatientToCareTeam(
  pool: pg.Pool,
  a: { careTeamId: string; patientId: string },
  actor = 'admin',
): Promise<void> {
  // a care team follows one program: its patients are enrolled in that program
  const { rows } = await pool.query<{ same: boolean }>(
    `SELECT t.program_id = p.program_id AS same FROM care_teams t, patients p WHERE t.id = $1 AND p.id = $2`,
    [a.careTeamId, a.patientId],
  );
  if (rows[0] && !rows[0].same)
    throw new ProvisioningError('PROGRAM_MISMATCH', `care team ${a.careTeamId} follows another program`);
  await pool.query('INSERT INTO care_team_patients (care_team_id, patient_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
    a.careTeamId,
    a.patientId,
  ]);
  await audit(pool, actor, 'care_team.patient_added', 'care_team', a.careTeamId, { patientId: a.patientId });
}

/** Records that the patient accepted this professional (clinical data access needs it). */
export async function recordConsent(
  pool: pg.Pool,
  c: { patientId: string; professionalId: string },
  actor = 'admin',
): Promise<void> {
  await pool.query(
    `INSERT INTO patient_consents (patient_id, professional_id, recorded_by) VALUES ($1, $2, $3)
     ON CONFLICT (patient_id, professional_id) DO UPDATE SET granted_at = now(), revoked_at = NULL, recorded_by = EXCLUDED.recorded_by`,
    [c.patientId, c.professionalId, actor],
  );
  await audit(pool, actor, 'consent.granted', 'patient', c.patientId, { professionalId: c.professionalId });
}

export async function revokeConsent(
  pool: pg.Pool,
  c: { patientId: string; professionalId: string },
  actor = 'admin',
): Promise<void> {
  await pool.query(
    'UPDATE patient_consents SET revoked_at = now() WHERE patient_id = $1 AND professional_id = $2 AND revoked_at IS NULL',
    [c.patientId, c.professionalId],
  );
  await audit(pool, actor, 'consent.revoked', 'patient', c.patientId, { professionalId: c.professionalId });
}

/** Registers a care team's webhook; returns its HMAC secret, shown once. */
export async function createWebhook(
  pool: pg.Pool,
  w: { careTeamId: string; url: string },
  actor = 'admin',
): Promise<{ id: number; secret: string }> {
  const url = new URL(w.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw Object.assign(new Error('webhook url must be http(s)'), { code: 'INVALID_URL' });
  const secret = generateSecret();
  const inserted = await pool.query<{ id: string }>(
    'INSERT INTO webhooks (care_team_id, url, secret, created_by) VALUES ($1, $2, $3, $4) RETURNING id',
    [w.careTeamId, url.toString(), secret, actor],
  );
  const id = Number(firstRow(inserted, 'INSERT INTO webhooks').id);
  await audit(pool, actor, 'webhook.created', 'care_team', w.careTeamId, { webhookId: id });
  return { id, secret };
}

/**
 * Demo/test convenience: a care team for a program with one professional per clinical role, each
 * consented by the given patients. Returns the tokens (shown once).
 */
export async function createCareTeamWithMembers(
  pool: pg.Pool,
  t: { id: string; programId: Program; name: string; patientIds: string[]; roles?: CareRole[] },
): Promise<Record<CareRole, { professionalId: string; token: string }>> {
  await createCareTeam(pool, t);
  const roles = t.roles ?? PROFESSIONAL_ROLES.filter((r) => r !== 'admin');
  const out = {} as Record<CareRole, { professionalId: string; token: string }>;
  for (const role of roles) {
    const professionalId = `${t.id}-${role.replace(/_/g, '-')}`;
    const { token } = await createProfessional(pool, { id: professionalId, displayName: `${role} of ${t.name}`, role });
    await addCareTeamMember(pool, { careTeamId: t.id, professionalId, role });
    out[role] = { professionalId, token };
  }
  for (const patientId of t.patientIds) {
    await addPatientToCareTeam(pool, { careTeamId: t.id, patientId });
    for (const { professionalId } of Object.values(out)) await recordConsent(pool, { patientId, professionalId });
  }
  return out;
}
