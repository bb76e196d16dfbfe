import { spawn } from 'node:child_process';

/** What a command line printed and how it ended. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with `env` over this process's environment, collecting its output. */
export function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The hub's command line (hub/cli.ts) from source, as `npm run hub --` runs it. */
export const hubCli = (args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> =>
  runCommand(process.execPath, ['--import', 'tsx', 'hub/cli.ts', ...args], env);

/** The gateway's command line (gateway/cli.ts) from source. */
export const gatewayCli = (args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun> =>
  runCommand(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', ...args], env);
