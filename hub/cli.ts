#!/usr/bin/env node
/**
 * Hub command line (`vigil-hub --help`; `vigil-hub <command> --help`). One file per command group
 * under hub/cli/; a command reads the configuration and connects to a store only when it runs.
 * Exit status: 0 done, 1 failure worth retrying, 2 usage or configuration error (contract/cli.ts).
 */
import { cliProgram, EXIT_USAGE, runCli, type ErrorClassifier } from '../contract/cli';
import { registerBackup } from './cli/backup';
import { hubCliContext } from './cli/context';
import { registerFleet } from './cli/fleet';
import { registerCareTeams, registerEnrollment } from './cli/records';
import { registerCredentials, registerPatientRights } from './cli/rights';
import { registerRun } from './cli/run';

/** Errors from below the command line that are the operator's to fix, not worth a retry. */
const classify: ErrorClassifier = (e) => {
  const err = e as { name?: string; code?: unknown; table?: string; detail?: string; constraint?: string };
  if (err.code === 'CONFIG_INVALID') return { code: 'CONFIG_INVALID', exitCode: EXIT_USAGE };
  if (
    err.code === 'RESTORE_TARGET_NOT_EMPTY' ||
    err.code === 'BACKUP_INVALID' ||
    err.code === 'RELEASE_SIGNATURE_INVALID' ||
    err.code === 'RELEASE_DIGEST_MISMATCH' ||
    err.code === 'RELEASE_MANIFEST_INVALID'
  )
    return { code: err.code, exitCode: EXIT_USAGE };
  // PostgreSQL foreign_key_violation: the command names a record that does not exist
  if (err.code === '23503')
    return {
      code: 'NOT_FOUND',
      exitCode: EXIT_USAGE,
      // detail: Key (patient_id)=(P-9) is not present in table "patients".
      message: err.detail?.replace(
        /^Key \((\w+?)(?:_id)?\)=\((.*)\) is not present in table "(\w+)"\.$/,
        'no such $1: $2',
      ),
    };
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) return { code: 'DATABASE_ERROR', exitCode: 1 };
  if (err.code === 'ECONNREFUSED' || err.name === 'AggregateError') return { code: 'STORE_UNREACHABLE', exitCode: 1 };
  return undefined;
};

const program = cliProgram(
  'vigil-hub',
  'Vigil telemetry hub: run it, enroll patients and gateways, manage care teams',
).option('-c, --config <file>', 'hub configuration file (YAML or JSON); VIGIL_* environment variables override it');
const ctx = hubCliContext(program);
for (const register of [
  registerRun,
  registerEnrollment,
  registerCareTeams,
  registerCredentials,
  registerPatientRights,
  registerFleet,
  registerBackup,
])
  register(program, ctx);

await runCli(program, { classify, fallbackCode: 'HUB_FAILED', defaultCommand: 'run' });
