/**
 * `vigil-gateway-agent` (dist/gateway-agent.mjs): the over-the-air supervisor systemd starts on the
 * box (deploy/vigil-gateway.service). It runs `<root>/current/gateway.mjs run --config <file>` and
 * switches and rolls back releases (gateway/update/supervisor.ts). Installed with the box; an
 * update replaces the gateway bundle, never this program.
 *   node dist/gateway-agent.mjs --root /opt/vigil --config /etc/vigil/gateway.yaml [--health-deadline-ms 120000]
 */
import { parseArgs } from 'node:util';
import { GATEWAY_NODE_FLAGS } from '../deploy/gateway-runtime';
import { Supervisor } from './update/supervisor';

let values: { root?: string; config?: string; 'health-deadline-ms'?: string };
try {
  ({ values } = parseArgs({
    options: {
      root: { type: 'string' },
      config: { type: 'string' },
      'health-deadline-ms': { type: 'string' },
    },
  }));
} catch (e) {
  console.error(`USAGE: ${(e as Error).message}`);
  process.exit(2);
}
const deadline = Number(values['health-deadline-ms'] ?? 120_000);
if (!values.root || !values.config || !Number.isInteger(deadline) || deadline < 1_000) {
  console.error('USAGE: --root <dir> --config <gateway.yaml> [--health-deadline-ms <ms, 1000 or more>]');
  process.exit(2);
}
const supervisor = new Supervisor({
  root: values.root,
  args: ['run', '--config', values.config],
  nodeFlags: GATEWAY_NODE_FLAGS,
  healthDeadlineMs: deadline,
});
try {
  supervisor.start();
} catch (e) {
  console.error(`RELEASE_MISSING: ${(e as Error).message}`);
  process.exit(2);
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void supervisor.stop());
console.log(JSON.stringify({ event: 'agent.ready', root: values.root }));
process.exit(await supervisor.exited);
