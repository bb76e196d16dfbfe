import { bleAddressSchema, gatewayIdSchema, patientIdSchema } from '../../contract';
import { choiceArg, intArg, schemaArg } from '../../contract/cli';
import { PROFESSIONAL_ROLES, type CareRole } from '../admin/provisioning';
import { PROGRAMS } from '../rules/rule';
import { printJson, type RegisterCommands } from './context';

const CARE_ROLES = PROFESSIONAL_ROLES.filter((r): r is CareRole => r !== 'admin');
const patientId = schemaArg(patientIdSchema, 'patient id');
const gatewayId = schemaArg(gatewayIdSchema, 'gateway id');
const program = choiceArg(PROGRAMS, 'program');
const name = (parts: string[]) => parts.join(' ');

/** Patients, gateways and their devices (enrollment side of hub/admin/provisioning). */
export const registerEnrollment: RegisterCommands = (root, ctx) => {
  root
    .command('enroll-patient')
    .description('enroll a patient in a follow-up program (updates the program and name when it exists)')
    .argument('<id>', 'patient id', patientId)
    .argument('<program>', `one of ${PROGRAMS.join(', ')}`, program)
    .argument('<name...>', 'display name')
    .action((id: string, programId: (typeof PROGRAMS)[number], displayName: string[]) =>
      ctx.withPool(async (pool) => {
        const { createPatient } = await import('../admin/provisioning');
        await createPatient(pool, { id, programId, displayName: name(displayName) });
        printJson({ patientId: id, programId });
      }),
    );

  root
    .command('enroll-gateway')
    .description("issue a household gateway's MQTT credentials (the password is printed once)")
    .argument('<gatewayId>', 'gateway id', gatewayId)
    .argument('<patientId>', 'the household patient', patientId)
    .action((id: string, patient: string) =>
      ctx.withPool(async (pool) => {
        const { createGateway } = await import('../admin/provisioning');
        const { password } = await createGateway(pool, { id, patientId: patient });
        printJson({ gatewayId: id, password });
      }),
    );

  root
    .command('bind-device')
    .description('file the readings of a device (or one user slot of it) on a gateway under a patient')
    .argument('<gatewayId>', 'gateway id', gatewayId)
    .argument('<address>', 'BLE address AA:BB:CC:DD:EE:FF', (v) =>
      schemaArg(bleAddressSchema, 'BLE address')(v.toUpperCase()),
    )
    .argument('<patientId>', 'patient id', patientId)
    .argument('[userIndex]', 'user slot of a multi-user device', intArg(0, 255))
    .action((gw: string, address: string, patient: string, userIndex: number | undefined) =>
      ctx.withPool(async (pool) => {
        const { bindDevice } = await import('../admin/provisioning');
        await bindDevice(pool, {
          gatewayId: gw,
          address,
          patientId: patient,
          ...(userIndex === undefined ? {} : { userIndex }),
        });
        printJson({ gatewayId: gw, address, patientId: patient, userIndex: userIndex ?? null });
      }),
    );
};

/** Professionals, care teams and consent. */
export const registerCareTeams: RegisterCommands = (root, ctx) => {
  root
    .command('create-professional')
    .description('create a professional and print a new API token (shown once)')
    .argument('<id>', 'professional id')
    .argument('<role>', `one of ${PROFESSIONAL_ROLES.join(', ')}`, choiceArg(PROFESSIONAL_ROLES, 'role'))
    .argument('<name...>', 'display name')
    .option('--scope <scope...>', 'SMART scopes of the token, e.g. user/*.read (none: no /fhir access)')
    .action((id: string, role: (typeof PROFESSIONAL_ROLES)[number], displayName: string[], o: { scope?: string[] }) =>
      ctx.withPool(async (pool, config) => {
        const { createProfessional } = await import('../admin/provisioning');
        const { token, expiresAt, scopes } = await createProfessional(pool, {
          id,
          role,
          displayName: name(displayName),
          tokenTtlDays: config.http.tokenTtlDays,
          scopes: o.scope ?? [],
        });
        printJson({ professionalId: id, token, expiresAt, scopes });
      }),
    );

  root
    .command('create-care-team')
    .description('create a care team for a program')
    .argument('<id>', 'care team id')
    .argument('<program>', `one of ${PROGRAMS.join(', ')}`, program)
    .argument('<name...>', 'display name')
    .action((id: string, programId: (typeof PROGRAMS)[number], teamName: string[]) =>
      ctx.withPool(async (pool) => {
        const { createCareTeam } = await import('../admin/provisioning');
        await createCareTeam(pool, { id, programId, name: name(teamName) });
        printJson({ careTeamId: id, programId });
      }),
    );

  root
    .command('add-team-member')
    .description("add a professional to a care team (role defaults to the professional's own)")
    .argument('<teamId>', 'care team id')
    .argument('<professionalId>', 'professional id')
    .argument('[role]', `one of ${CARE_ROLES.join(', ')}`, choiceArg(CARE_ROLES, 'care role'))
    .action((careTeamId: string, professionalId: string, role: CareRole | undefined) =>
      ctx.withPool(async (pool) => {
        const { addCareTeamMember } = await import('../admin/provisioning');
        await addCareTeamMember(pool, { careTeamId, professionalId, ...(role ? { role } : {}) });
        printJson({ careTeamId, professionalId, role: role ?? null });
      }),
    );

  root
    .command('add-team-patient')
    .description('put a patient in the care of a team')
    .argument('<teamId>', 'care team id')
    .argument('<patientId>', 'patient id', patientId)
    .action((careTeamId: string, patient: string) =>
      ctx.withPool(async (pool) => {
        const { addPatientToCareTeam } = await import('../admin/provisioning');
        await addPatientToCareTeam(pool, { careTeamId, patientId: patient });
        printJson({ careTeamId, patientId: patient });
      }),
    );

  root
    .command('consent')
    .description("record the patient's consent to a professional (clinical data access needs it)")
    .argument('<patientId>', 'patient id', patientId)
    .argument('<professionalId>', 'professional id')
    .action((patient: string, professionalId: string) =>
      ctx.withPool(async (pool) => {
        const { recordConsent } = await import('../admin/provisioning');
        await recordConsent(pool, { patientId: patient, professionalId });
        printJson({ patientId: patient, professionalId, consent: 'granted' });
      }),
    );

  root
    .command('revoke-consent')
    .description("withdraw the patient's consent to a professional")
    .argument('<patientId>', 'patient id', patientId)
    .argument('<professionalId>', 'professional id')
    .action((patient: string, professionalId: string) =>
      ctx.withPool(async (pool) => {
        const { revokeConsent } = await import('../admin/provisioning');
        await revokeConsent(pool, { patientId: patient, professionalId });
        printJson({ patientId: patient, professionalId, consent: 'revoked' });
      }),
    );
};
