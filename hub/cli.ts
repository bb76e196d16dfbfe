#!/usr/bin/env tsx
/**
 * Hub command line.
 *   vigil-hub [--config hub.yaml]                       run the hub (config from file and VIGIL_* env)
 *   vigil-hub enroll-patient <id> <program> <name>      enroll a patient
 *   vigil-hub enroll-gateway <gatewayId> <patientId>    issue gateway credentials (printed once)
 *   vigil-hub bind-device <gatewayId> <address> <patientId> [userIndex]
 *   vigil-hub create-professional <id> <role> <name>    issue an API token (printed once)
 *   vigil-hub create-care-team <id> <program> <name>    create a care team for a program
 *   vigil-hub add-team-member <teamId> <professionalId> [role]
 *   vigil-hub add-team-patient <teamId> <patientId>
 *   vigil-hub consent <patientId> <professionalId>      record the patient's consent
 *   vigil-hub revoke-consent <patientId> <professionalId>
 *   vigil-hub migrate                                   apply database migrations and exit
 */
import { parseArgs } from 'node:util';
import {
  addCareTeamMember,
  addPatientToCareTeam,
  bindDevice,
  createCareTeam,
  createGateway,
  createPatient,
  createProfessional,
  PROFESSIONAL_ROLES,
  recordConsent,
  revokeConsent,
  type CareRole,
  type Program,
  type ProfessionalRole,
} from './admin/provisioning';
import { ConfigError, loadHubConfig } from './config/load';
import { startHub } from './main';
import { createPool, ensureDatabase } from './storage/postgres/database';
import { migrate } from './storage/postgres/migrate';
import { errorCode, errorMessage } from '../contract/errors';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { config: { type: 'string', short: 'c' } },
    allowPositionals: true,
  });
  const config = loadHubConfig(values.config ? { file: values.config } : {});
  const [command, ...args] = positionals;

  if (!command || command === 'run') {
    const hub = await startHub(config);
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      hub.log.info({ signal }, 'hub stopping');
      // a store or a peer that no longer answers must not keep the process alive (systemd, compose)
      setTimeout(() => {
        hub.log.warn({ code: 'SHUTDOWN_TIMEOUT' }, 'hub stop took too long; exiting');
        process.exit(1);
      }, 10_000).unref();
      await hub.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    // machine-readable line for supervisors and tests
    console.log(JSON.stringify({ event: 'hub.ready', httpUrl: hub.httpUrl, mqttUrl: hub.mqttUrl }));
    return;
  }

  if (config.postgres.createDatabase) await ensureDatabase(config.postgres.url);
  const pool = createPool(config.postgres.url, 2);
  try {
    await migrate(pool);
    /** checks the count of positional arguments; the accessor it returns gives a required one */
    const need = (n: number, usage: string): ((i: number) => string) => {
      const usageError = () => Object.assign(new Error(`usage: vigil-hub ${usage}`), { code: 'USAGE' });
      if (args.length < n) throw usageError();
      return (i) => {
        const a = args[i];
        if (a === undefined) throw usageError();
        return a;
      };
    };
    switch (command) {
      case 'migrate':
        break;
      case 'enroll-patient': {
        const arg = need(3, 'enroll-patient <id> <program> <display name>');
        await createPatient(pool, {
          id: arg(0),
          programId: args[1] as Program,
          displayName: args.slice(2).join(' '),
        });
        break;
      }
      case 'enroll-gateway': {
        const arg = need(2, 'enroll-gateway <gatewayId> <patientId>');
        const { password } = await createGateway(pool, { id: arg(0), patientId: arg(1) });
        console.log(JSON.stringify({ gatewayId: args[0], password }));
        break;
      }
      case 'bind-device': {
        const arg = need(3, 'bind-device <gatewayId> <address> <patientId> [userIndex]');
        await bindDevice(pool, {
          gatewayId: arg(0),
          address: arg(1),
          patientId: arg(2),
          ...(args[3] ? { userIndex: Number(args[3]) } : {}),
        });
        break;
      }
      case 'create-professional': {
        const arg = need(3, `create-professional <id> <${PROFESSIONAL_ROLES.join('|')}> <display name>`);
        if (!PROFESSIONAL_ROLES.includes(args[1] as ProfessionalRole))
          throw Object.assign(new Error(`unknown role ${args[1]}`), { code: 'USAGE' });
        const { token } = await createProfessional(pool, {
          id: arg(0),
          role: args[1] as ProfessionalRole,
          displayName: args.slice(2).join(' '),
        });
        console.log(JSON.stringify({ professionalId: args[0], token }));
        break;
      }
      case 'create-care-team': {
        const arg = need(3, 'create-care-team <id> <program> <display name>');
        await createCareTeam(pool, { id: arg(0), programId: args[1] as Program, name: args.slice(2).join(' ') });
        break;
      }
      case 'add-team-member': {
        const arg = need(2, 'add-team-member <teamId> <professionalId> [role]');
        await addCareTeamMember(pool, {
          careTeamId: arg(0),
          professionalId: arg(1),
          ...(args[2] ? { role: args[2] as CareRole } : {}),
        });
        break;
      }
      case 'add-team-patient': {
        const arg = need(2, 'add-team-patient <teamId> <patientId>');
        await addPatientToCareTeam(pool, { careTeamId: arg(0), patientId: arg(1) });
        break;
      }
      case 'consent': {
        const arg = need(2, 'consent <patientId> <professionalId>');
        await recordConsent(pool, { patientId: arg(0), professionalId: arg(1) });
        break;
      }
      case 'revoke-consent': {
        const arg = need(2, 'revoke-consent <patientId> <professionalId>');
        await revokeConsent(pool, { patientId: arg(0), professionalId: arg(1) });
        break;
      }
      default:
        throw Object.assign(new Error(`unknown command ${command}`), { code: 'USAGE' });
    }
  } finally {
    await pool.end();
  }
}

main().catch((e: unknown) => {
  const code = e instanceof ConfigError ? e.code : (errorCode(e) ?? 'HUB_START_FAILED');
  console.error(`${code}: ${errorMessage(e)}`);
  process.exit(e instanceof ConfigError || code === 'USAGE' ? 2 : 1);
});
