import type pg from 'pg';
import { gatewayIdSchema, patientIdSchema, bleAddressSchema } from '../../contract';
import { ApiError } from '../api/errors';
import { validateScopes } from '../fhir/scopes';
import { checkTargetUrl, type EgressError, type EgressProfile } from '../security/egress';
import { pseudonymProblem } from '../security/pseudonym';
import { seal } from '../security/secret-box';
import { generateSecret, hashSecret } from '../security/secrets';
import { firstRow } from '../storage/postgres/rows';
import { ROLES, type Role } from '../vocabulary';

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
  const problem = pseudonymProblem(p.id);
  if (problem) throw new ApiError('INVALID_REQUEST', `PATIENT_ID_NOT_PSEUDONYMOUS: the patient id ${problem}`);
  // never an upsert: re-posting another team's patient id must not take the record over
  const { rowCount } = await pool.query(
    `INSERT INTO patients (id, program_id, display_name, birth_year, chronic_lung_disease) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [p.id, p.programId, p.displayName, p.birthYear ?? null, p.chronicLungDisease ?? false],
  );
  if (!rowCount) throw new ProvisioningError('PATIENT_EXISTS', `patient ${p.id} is already enrolled`);
  await audit(pool, actor, 'patient.enrolled', 'patient', p.id, { programId: p.programId });
}

/**
 * Creates (or re-keys) a gateway for a household; returns its MQTT password, shown once.
 * A revoked gateway is never revived (GATEWAY_REVOKED): a box that was lost or stolen comes back
 * only under a new gateway id.
 */
export async function createGateway(
  pool: pg.Pool,
  g: { id: string; patientId: string },
  actor = 'admin',
): Promise<{ password: string }> {
  gatewayIdSchema.parse(g.id);
  const password = generateSecret();
  // re-keying stays possible for the same household; a box never moves to another one this way,
  // and a revoked box is never revived (docs/security.md "Credentials")
  const { rowCount } = await pool.query(
    `INSERT INTO gateways (id, patient_id, credential_hash) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET credential_hash = EXCLUDED.credential_hash
     WHERE gateways.patient_id IS NOT DISTINCT FROM EXCLUDED.patient_id AND gateways.revoked_at IS NULL`,
    [g.id, g.patientId, hashSecret(password)],
  );
  if (!rowCount) {
    const revoked = await pool.query('SELECT 1 FROM gateways WHERE id = $1 AND revoked_at IS NOT NULL', [g.id]);
    if (revoked.rowCount) throw Object.assign(new Error(`gateway ${g.id} is revoked`), { code: 'GATEWAY_REVOKED' });
    throw new ProvisioningError('GATEWAY_OTHER_HOUSEHOLD', `gateway ${g.id} serves another household`);
  }
  await audit(pool, actor, 'gateway.credential_issued', 'gateway', g.id);
  return { password };
}

/**
 * Revokes a box: its credential is erased, its open enrollment codes are cancelled, the embedded
 * broker disconnects it (embedded-broker.ts disconnectRevoked) and refuses it from then on.
 * Returns false for an unknown gateway.
 */
export async function revokeGateway(pool: pg.Pool, gatewayId: string, actor = 'admin'): Promise<boolean> {
  const { rowCount } = await pool.query(
    'UPDATE gateways SET revoked_at = coalesce(revoked_at, now()), credential_hash = NULL WHERE id = $1',
    [gatewayId],
  );
  const codes = await pool.query(
    'UPDATE enrollment_codes SET cancelled_at = now() WHERE gateway_id = $1 AND used_at IS NULL AND cancelled_at IS NULL',
    [gatewayId],
  );
  if (!rowCount && !codes.rowCount) return false;
  await audit(pool, actor, 'gateway.revoked', 'gateway', gatewayId, { enrollmentCodesCancelled: codes.rowCount ?? 0 });
  return true;
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

/** every professional role (hub/vocabulary.ts) */
export const PROFESSIONAL_ROLES = ROLES;
export type ProfessionalRole = Role;

/** Lifetime of a professional's API bearer token (docs/security.md "Credentials"). */
export const DEFAULT_TOKEN_TTL_DAYS = 90;

/**
 * Creates a professional (or updates one not revoked) and returns a new API bearer token, shown
 * once, valid `tokenTtlDays`; the previous token stops working. A revoked professional is not
 * revived (PROFESSIONAL_REVOKED).
 */
export async function createProfessional(
  pool: pg.Pool,
  p: {
    id: string;
    displayName: string;
    role: ProfessionalRole;
    tokenTtlDays?: number;
    /** SMART scopes of the token (hub/fhir/scopes.ts); none: no /fhir access */
    scopes?: readonly string[];
    /** the patient patient/ scopes are limited to */
    scopePatientId?: string | null;
  },
  actor = 'admin',
): Promise<{ token: string; expiresAt: string; scopes: string[] }> {
  const scopes = validateScopes(p.scopes ?? [], p.scopePatientId ?? null);
  const token = generateSecret();
  const { rows } = await pool.query<{ token_expires_at: Date }>(
    `INSERT INTO professionals (id, display_name, role, token_hash, token_expires_at, token_scopes, token_patient_id)
     VALUES ($1, $2, $3, $4, now() + make_interval(days => $5), $6, $7)
     ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
       token_hash = EXCLUDED.token_hash, token_expires_at = EXCLUDED.token_expires_at,
       token_scopes = EXCLUDED.token_scopes, token_patient_id = EXCLUDED.token_patient_id
     WHERE professionals.revoked_at IS NULL
     RETURNING token_expires_at`,
    [
      p.id,
      p.displayName,
      p.role,
      hashSecret(token),
      p.tokenTtlDays ?? DEFAULT_TOKEN_TTL_DAYS,
      scopes,
      p.scopePatientId ?? null,
    ],
  );
  if (!rows[0]) throw Object.assign(new Error(`professional ${p.id} is revoked`), { code: 'PROFESSIONAL_REVOKED' });
  await audit(pool, actor, 'professional.token_issued', 'professional', p.id, { role: p.role, scopes });
  return { token, expiresAt: rows[0].token_expires_at.toISOString(), scopes };
}

/**
 * Issues a new token for an existing, not revoked professional; the previous one stops working.
 * The new token carries exactly `scopes` (none when absent: FHIR access is granted per token).
 */
export async function renewProfessionalToken(
  pool: pg.Pool,
  professionalId: string,
  o: { tokenTtlDays?: number; scopes?: readonly string[]; scopePatientId?: string | null } = {},
  actor = 'admin',
): Promise<{ token: string; expiresAt: string; scopes: string[] } | undefined> {
  const scopes = validateScopes(o.scopes ?? [], o.scopePatientId ?? null);
  const token = generateSecret();
  const { rows } = await pool.query<{ token_expires_at: Date }>(
    `UPDATE professionals SET token_hash = $2, token_expires_at = now() + make_interval(days => $3),
            token_scopes = $4, token_patient_id = $5
     WHERE id = $1 AND revoked_at IS NULL RETURNING token_expires_at`,
    [professionalId, hashSecret(token), o.tokenTtlDays ?? DEFAULT_TOKEN_TTL_DAYS, scopes, o.scopePatientId ?? null],
  );
  if (!rows[0]) return undefined;
  await audit(pool, actor, 'professional.token_issued', 'professional', professionalId, { scopes });
  return { token, expiresAt: rows[0].token_expires_at.toISOString(), scopes };
}

/** The current token's scopes, patient and expiry (never the token); undefined when unknown or revoked. */
export async function professionalTokenScopes(
  pool: pg.Pool,
  professionalId: string,
): Promise<{ scopes: string[]; patientId: string | null; expiresAt: string | null } | undefined> {
  const { rows } = await pool.query<{
    token_scopes: string[];
    token_patient_id: string | null;
    token_expires_at: Date | null;
  }>(
    'SELECT token_scopes, token_patient_id, token_expires_at FROM professionals WHERE id = $1 AND revoked_at IS NULL',
    [professionalId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    scopes: r.token_scopes,
    patientId: r.token_patient_id,
    expiresAt: r.token_expires_at?.toISOString() ?? null,
  };
}

/**
 * Revokes a professional: the token stops working at once, the professional leaves every care
 * team; consents and the audit trail are kept for the record. Returns false when unknown.
 */
export async function revokeProfessional(pool: pg.Pool, professionalId: string, actor = 'admin'): Promise<boolean> {
  const { rowCount } = await pool.query(
    'UPDATE professionals SET revoked_at = coalesce(revoked_at, now()), token_hash = NULL, token_expires_at = NULL WHERE id = $1',
    [professionalId],
  );
  if (!rowCount) return false;
  await pool.query('DELETE FROM care_team_members WHERE professional_id = $1', [professionalId]);
  await audit(pool, actor, 'professional.revoked', 'professional', professionalId);
  return true;
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
  w: { careTeamId: string; url: string; profile?: EgressProfile; secretKey?: string | undefined },
  actor = 'admin',
): Promise<{ id: number; secret: string }> {
  let url: URL;
  try {
    url = checkTargetUrl(w.url, w.profile ?? 'production');
  } catch (e) {
    throw new ApiError('WEBHOOK_TARGET_REFUSED', `${(e as EgressError).code}: ${(e as Error).message}`);
  }
  // fail closed: in production a webhook secret is never stored in clear
  if ((w.profile ?? 'production') === 'production' && !w.secretKey)
    throw new ApiError('SECRET_KEY_MISSING', 'set security.secretKey (VIGIL_SECRET_KEY) to register webhooks');
  const secret = generateSecret();
  const inserted = await pool.query<{ id: string }>(
    'INSERT INTO webhooks (care_team_id, url, secret, created_by) VALUES ($1, $2, $3, $4) RETURNING id',
    // sealed at rest when the hub has a secret key (hub/security/secret-box.ts)
    [w.careTeamId, url.toString(), w.secretKey ? seal(w.secretKey, secret) : secret, actor],
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
  t: {
    id: string;
    programId: Program;
    name: string;
    patientIds: string[];
    roles?: CareRole[];
    /** SMART scopes of the members' tokens (none by default: no /fhir access) */
    scopes?: readonly string[];
  },
): Promise<Record<CareRole, { professionalId: string; token: string }>> {
  await createCareTeam(pool, t);
  const roles = t.roles ?? PROFESSIONAL_ROLES.filter((r) => r !== 'admin');
  const out = {} as Record<CareRole, { professionalId: string; token: string }>;
  for (const role of roles) {
    const professionalId = `${t.id}-${role.replace(/_/g, '-')}`;
    const { token } = await createProfessional(pool, {
      id: professionalId,
      displayName: `${role} of ${t.name}`,
      role,
      ...(t.scopes ? { scopes: t.scopes } : {}),
    });
    await addCareTeamMember(pool, { careTeamId: t.id, professionalId, role });
    out[role] = { professionalId, token };
  }
  for (const patientId of t.patientIds) {
    await addPatientToCareTeam(pool, { careTeamId: t.id, patientId });
    for (const { professionalId } of Object.values(out)) await recordConsent(pool, { patientId, professionalId });
  }
  return out;
}
