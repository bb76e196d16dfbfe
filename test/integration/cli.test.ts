/**
 * Issue 17 item 5: the hub and gateway command lines. `--help` on every command touches no store,
 * arguments are validated before anything connects, usage and configuration errors exit 2 with
 * one `CODE: message` line, and the commands work against a real PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCli, hubCli, runCommand } from '../support/cli';
import { createTestPostgres, type TestPostgres } from '../support/stores';

/** a PostgreSQL URL nothing listens on: any command that connects fails with STORE_UNREACHABLE */
const NO_PG = 'postgres://postgres@127.0.0.1:9/vigil_nowhere';

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCommand(cmd, args, { VIGIL_PG_URL: NO_PG, ...env });
const hub = (args: string[], env?: NodeJS.ProcessEnv) => hubCli(args, { VIGIL_PG_URL: NO_PG, ...env });
const gateway = (args: string[], env?: NodeJS.ProcessEnv) => gatewayCli(args, { VIGIL_PG_URL: NO_PG, ...env });

/** command names listed in a commander help text */
const commandsIn = (help: string) =>
  help
    .split('Commands:')[1]!
    .split('\n')
    .map((l) => /^ {2}([a-z-]+)/.exec(l)?.[1])
    .filter((c): c is string => !!c && c !== 'help');

describe('command lines without any store', () => {
  it('`npm run hub -- --help` and `npm run gateway -- --help` exit 0 with no PostgreSQL', async () => {
    for (const script of ['hub', 'gateway']) {
      const r = await run('npm', ['run', '--silent', script, '--', '--help']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: vigil-${script}`);
    }
  }, 60_000);

  it('every hub and gateway command answers --help with exit 0', async () => {
    for (const [cli, name] of [
      [hub, 'vigil-hub'],
      [gateway, 'vigil-gateway'],
    ] as const) {
      const top = await cli(['--help']);
      const commands = commandsIn(top.stdout);
      expect(commands).toContain('run');
      const helps = await Promise.all(commands.map((c) => cli([c, '--help'])));
      helps.forEach((h, i) => {
        expect(h.status, `${name} ${commands[i]} --help: ${h.stderr}`).toBe(0);
        expect(h.stdout).toContain(`Usage: ${name} ${commands[i]}`);
      });
    }
  }, 120_000);

  it('rejects bad arguments before connecting: exit 2 and one USAGE line', async () => {
    const cases = [
      // programs and roles are data (docs/programs.md): an id that cannot be one is refused here
      await hub(['enroll-patient', 'P-0001', 'Cardiology!', 'Ann', 'Example']),
      await hub(['bind-device', 'gw-0001', 'not-an-address', 'P-0001']),
      await hub(['create-professional', 'p1', 'Surgeon!', 'Dr', 'X']),
      await hub(['frobnicate']),
      await hub(['--no-such-option']),
      await gateway(['pair', '--seconds', '99999']),
      await gateway(['unpair']),
    ];
    for (const r of cases) {
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^USAGE: /);
      // validated before connecting: the unreachable PostgreSQL was never tried
      expect(r.stderr).not.toContain('STORE_UNREACHABLE');
    }
    expect(cases[0]!.stderr).toContain('not a valid program id');
    expect(cases[3]!.stderr).toContain("unknown command 'frobnicate'");
  }, 60_000);

  it('a missing or unparsable configuration file is a configuration error (exit 2, code once)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
    try {
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'mqtt: [unclosed\n');
      for (const r of [
        await gateway(['--config', join(dir, 'missing.yaml')]),
        await gateway(['--config', bad]),
        await gateway(['status', '--config', bad]),
        await hub(['--config', join(dir, 'missing.yaml')]),
        await hub(['migrate', '--config', bad]),
      ]) {
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/^CONFIG_INVALID: /);
        expect(r.stderr).not.toContain('CONFIG_INVALID: CONFIG_INVALID');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('an unreachable PostgreSQL is a failure worth retrying (exit 1), not a usage error', async () => {
    const r = await hub(['migrate']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^STORE_UNREACHABLE: /);
  }, 30_000);
});

describe('hub commands on a real PostgreSQL', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await createTestPostgres('vigil_cli');
  });
  afterAll(async () => pg.drop());

  it('enrolls a patient and a gateway; an unknown patient is NOT_FOUND, not a foreign-key error', async () => {
    const env = { VIGIL_PG_URL: pg.url };
    const patient = await hub(['enroll-patient', 'P-0042', 'heart_failure', 'Patient', '42'], env);
    expect(patient.status, patient.stderr).toBe(0);
    expect(JSON.parse(patient.stdout)).toEqual({ patientId: 'P-0042', programId: 'heart_failure' });
    const { rows } = await pg.pool.query<{ display_name: string }>(
      "SELECT display_name FROM patients WHERE id = 'P-0042'",
    );
    expect(rows[0]?.display_name).toBe('Patient 42');

    const gw = await hub(['enroll-gateway', 'gw-0042', 'P-0042'], env);
    expect(gw.status, gw.stderr).toBe(0);
    expect((JSON.parse(gw.stdout) as { password: string }).password.length).toBeGreaterThan(20);

    const orphan = await hub(['enroll-gateway', 'gw-0043', 'P-9999'], env);
    expect(orphan.status).toBe(2);
    expect(orphan.stderr.trim()).toBe('NOT_FOUND: no such patient: P-9999');
  }, 60_000);

  it('issues a token with SMART scopes for one patient, lists them, refuses a scope it does not know', async () => {
    const env = { VIGIL_PG_URL: pg.url };
    expect((await hub(['enroll-patient', 'P-0050', 'heart_failure', 'Patient', '50'], env)).status).toBe(0);
    const created = await hub(['create-professional', 'nurse-50', 'home_nurse', 'Nurse', '50'], env);
    expect(created.status, created.stderr).toBe(0);
    expect((JSON.parse(created.stdout) as { scopes: string[] }).scopes).toEqual([]);
    const renewed = await hub(
      [
        'renew-token',
        'nurse-50',
        '30',
        '--scope',
        'patient/Observation.rs',
        'patient/Patient.read',
        '--patient',
        'P-0050',
      ],
      env,
    );
    expect(renewed.status, renewed.stderr).toBe(0);
    expect((JSON.parse(renewed.stdout) as { scopes: string[] }).scopes).toEqual([
      'patient/Observation.rs',
      'patient/Patient.read',
    ]);
    const listed = await hub(['token-scopes', 'nurse-50'], env);
    expect(listed.status, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({
      professionalId: 'nurse-50',
      scopes: ['patient/Observation.rs', 'patient/Patient.read'],
      patientId: 'P-0050',
    });
    const bad = await hub(['renew-token', 'nurse-50', '--scope', 'user/Banana.read'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^INVALID_SCOPE: /);
  }, 60_000);
});
