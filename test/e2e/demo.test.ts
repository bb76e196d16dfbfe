/**
 * Issue 17 item 9: `npm run demo`, stopped with a terminal's Ctrl-C (SIGINT to its whole process
 * group), leaves nothing running (influxd included), and a second `npm run demo` starts cleanly.
 * Runs the real command (bootstrap -> node --import tsx demo -> influxd, hub, gateways, virtual buses) on
 * free ports, its own influxd and its own databases, so a developer's demo is not disturbed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase } from '../../hub/storage/postgres/database';
import { TEST_PG_BASE, uniqueName } from '../support/stores';
import { until } from '../support/wait';

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

/** every process whose parent chain reaches `root` (their own process groups included) */
function descendants(root: number): Map<number, string> {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
      cmd.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    } catch {
      /* gone meanwhile */
    }
  }
  const out = new Map<number, string>();
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        out.set(pid, cmd.get(pid) ?? '');
        break;
      }
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    // a zombie still answers kill(0): read its state instead
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

interface Demo {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDemo(env: NodeJS.ProcessEnv): Demo {
  // a process group of its own, like a terminal's foreground job
  const child = spawn('npm', ['run', 'demo'], { env: { ...process.env, ...env }, detached: true, stdio: 'pipe' });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  return { child, output: () => out, exited };
}

describe('npm run demo', () => {
  const database = uniqueName('vigil_demo_test');
  const dataDir = `.data/demo-test-${database}`;
  const demos: Demo[] = [];
  let influxPort = 0;
  afterAll(async () => {
    for (const d of demos)
      if (d.child.exitCode === null && d.child.signalCode === null && d.child.pid)
        process.kill(-d.child.pid, 'SIGKILL');
    await dropDatabase(`${TEST_PG_BASE}/${database}`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    if (influxPort) rmSync(`.data/influxdb-${influxPort}`, { recursive: true, force: true });
  });

  it('Ctrl-C stops every process it started, influxd included; a second run starts cleanly', async () => {
    influxPort = await freePort();
    const env = {
      VIGIL_INFLUX_PORT: String(influxPort),
      VIGIL_DEMO_HTTP_PORT: '0',
      VIGIL_DEMO_MQTT_PORT: '0',
      VIGIL_DEMO_DATABASE: database,
      VIGIL_DEMO_PG_BASE: TEST_PG_BASE,
      VIGIL_DEMO_DATA_DIR: dataDir,
      VIGIL_DEMO_MEASURE_S: '3600',
    };
    for (const round of [1, 2]) {
      const demo = startDemo(env);
      demos.push(demo);
      await until(
        `demo run ${round} running`,
        () => Promise.resolve(demo.output().includes('running; Ctrl-C') ? true : undefined),
        120_000,
        500,
      );
      const started = descendants(demo.child.pid!);
      const commands = [...started.values()];
      expect(commands.some((c) => c.startsWith('influxd ') && c.includes(`influxdb-${influxPort}`))).toBe(true);
      // not through tsx's command line: it SIGKILLs a child that has not acknowledged a Ctrl-C
      // within 30 ms (a busy machine), and the demo then dies before stopping what it started
      expect(commands.filter((c) => /\/(\.bin\/tsx|tsx\/dist\/cli\.mjs)\b/.test(c))).toEqual([]);
      expect(commands.filter((c) => c.includes('hub/cli.ts'))).toHaveLength(1);
      expect(commands.filter((c) => c.includes('gateway/cli.ts'))).toHaveLength(3);
      expect(commands.filter((c) => c.startsWith('/usr/bin/dbus-daemon') || c.startsWith('dbus-daemon'))).toHaveLength(
        3,
      );

      // a terminal's Ctrl-C: SIGINT to the foreground process group
      process.kill(-demo.child.pid!, 'SIGINT');
      // npm hands the prompt back only once the demo has stopped everything; npm's shell passes the
      // interrupt on as its own exit status, as any shell job stopped with Ctrl-C does
      const { code, signal } = await demo.exited;
      expect(code === 0 || signal === 'SIGINT', `npm exit ${code} ${signal}`).toBe(true);
      // a child killed at the very end (the demo's last-resort SIGKILL on exit) takes a moment to
      // disappear from /proc once npm is gone: wait for that, not for a second demo to collide
      const leftovers = () => [...started].filter(([pid]) => alive(pid));
      await until('the demo processes gone', () => (leftovers().length === 0 ? true : undefined), 5_000, 100).catch(
        () => undefined,
      );
      const left = leftovers();
      expect(left, `still running after Ctrl-C:\n${left.map(([p, c]) => `${p} ${c}`).join('\n')}`).toEqual([]);
      const answers = await fetch(`http://127.0.0.1:${influxPort}/ping`).then(
        () => true,
        () => false,
      );
      expect(answers).toBe(false);
      expect(demo.output()).toContain('[demo] stopped');
      expect(demo.output()).not.toContain('DEMO_FAILED');
    }
  }, 300_000);
});
