#!/usr/bin/env node
/**
 * Gateway command line (`vigil-gateway --help`; `vigil-gateway <command> --help`). One file per
 * command group under gateway/cli/; the configuration is read only when a command runs.
 * Exit status: 0 done, 1 failure worth retrying, 2 usage or configuration error: systemd's
 * RestartPreventExitStatus=2 (deploy/vigil-gateway.service) stops the restart loop on those.
 */
import { cliProgram, EXIT_USAGE, runCli, type ErrorClassifier } from '../contract/cli';
import { gatewayCliContext } from './cli/context';
import { registerLocal } from './cli/local';
import { registerRun } from './cli/run';
import { registerTrace } from './cli/trace';
import { registerUpdate } from './cli/update';

/** a configuration the box cannot fix by restarting */
const classify: ErrorClassifier = (e) => {
  const code = (e as { code?: unknown }).code;
  if (code === 'CONFIG_INVALID' || code === 'ENROLLMENT_CODE_INVALID') return { code, exitCode: EXIT_USAGE };
  // a release the box must not run: retrying will not make it acceptable
  if (typeof code === 'string' && /^RELEASE_|^ROLLBACK_/.test(code)) return { code, exitCode: EXIT_USAGE };
  return undefined;
};

const program = cliProgram('vigil-gateway', 'Vigil home gateway: BLE devices to the hub, buffered on the box').option(
  '-c, --config <file>',
  'gateway configuration file (YAML or JSON); VIGIL_* environment variables override it',
);
const ctx = gatewayCliContext(program);
for (const register of [registerRun, registerLocal, registerUpdate, registerTrace]) register(program, ctx);

await runCli(program, { classify, fallbackCode: 'GATEWAY_FAILED', defaultCommand: 'run' });
