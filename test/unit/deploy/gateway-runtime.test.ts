import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS } from '../../../deploy/gateway-runtime';

/** The benches and e2e tests run the bundle with GATEWAY_NODE_FLAGS: the box must run it the same way. */
describe('gateway runtime on the box', () => {
  it('the systemd unit starts the update supervisor, which runs the bundle with exactly the V8 flags the benches measure', () => {
    const unit = readFileSync('deploy/vigil-gateway.service', 'utf8');
    const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
    // Node 24 LTS installed from the registry tarball (README), linked there
    expect(execStart[0]).toBe('/usr/local/bin/node');
    const agentAt = execStart.indexOf('gateway-agent.mjs');
    expect(agentAt).toBeGreaterThan(0);
    // the supervisor itself: no JIT either, and a smaller heap than the gateway
    expect(execStart.slice(1, agentAt)).toContain('--lite-mode');
    expect(execStart.slice(agentAt + 1, agentAt + 3)).toEqual(['--root', '/opt/vigil']);
    // and it starts current/gateway.mjs with GATEWAY_NODE_FLAGS
    expect(readFileSync('gateway/agent.ts', 'utf8')).toMatch(/nodeFlags: GATEWAY_NODE_FLAGS/);
  });

  it('the flags leave WebAssembly out, so nothing in the gateway may use fetch', () => {
    expect(GATEWAY_NODE_FLAGS).toContain('--lite-mode');
    const files = readdirSync('gateway', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    const callers = files.filter((f) =>
      /(^|[^.\w])fetch\(|WebAssembly\./.test(readFileSync(join('gateway', f), 'utf8')),
    );
    expect(callers).toEqual([]);
  });
});
