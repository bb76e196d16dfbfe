import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private dbus-daemon for the virtual BlueZ: a system-bus-like configuration (EXTERNAL auth,
 * one unix socket in a fresh temp dir) whose policy allows everything. Never the real system bus.
 */
export interface PrivateBus {
  /** the D-Bus address clients use, e.g. as DBUS_SYSTEM_BUS_ADDRESS */
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface PrivateBusOptions {
  /** dbus-daemon binary; default /usr/bin/dbus-daemon, else `dbus-daemon` on PATH */
  binary?: string;
  startTimeoutMs?: number;
}

function config(socketPath: string): string {
  // dbus-daemon(1) CONFIGURATION FILE; "allow everything" as the session bus does, but <type>system</type>
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socketPath}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`;
}

/**
 * Starts dbus-daemon under a tiny sh watchdog: the daemon is killed when our stdin pipe closes, so
 * the daemon dies with this process even on SIGKILL (dbus-daemon has no parent-death option),
 * and the watchdog removes the temp dir.
 */
export async function startPrivateBus(opts: PrivateBusOptions = {}): Promise<PrivateBus> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-vbluez-'));
  const socketPath = join(dir, 'system_bus_socket');
  const configPath = join(dir, 'bus.conf');
  await writeFile(configPath, config(socketPath));
  const binary = opts.binary ?? (existsSync('/usr/bin/dbus-daemon') ? '/usr/bin/dbus-daemon' : 'dbus-daemon');
  const script =
    '"$0" --config-file="$1" --print-address=1 --nofork </dev/null & d=$!; trap \'kill $d 2>/dev/null\' TERM INT; read _ignored; kill $d 2>/dev/null; wait $d; rm -rf "$2"';
  const child: ChildProcess = spawn('/bin/sh', ['-c', script, binary, configPath, dir], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // its own process group: a Ctrl-C in a terminal must not take the bus from under the gateways
    // still using it; it ends with its owner through the stdin watchdog above
    detached: true,
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));

  const cleanupDir = () => rm(dir, { recursive: true, force: true });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => fail(new Error(`dbus-daemon did not print its address within ${opts.startTimeoutMs ?? 5000} ms`)),
      opts.startTimeoutMs ?? 5000,
    );
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.stdin?.end();
      reject(e);
    };
    child.once('error', (e) => fail(new Error(`cannot run dbus-daemon (install package "dbus"): ${e.message}`)));
    child.once('exit', (code) =>
      fail(new Error(`dbus-daemon exited (${code}) before printing its address: ${stderr.join('').trim()}`)),
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
  }).catch(async (e: unknown) => {
    await cleanupDir();
    throw e;
  });

  let stopping: Promise<void> | undefined;
  return {
    address,
    pid: child.pid ?? -1,
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          child.stdin?.end();
          const t = setTimeout(() => child.kill('SIGTERM'), 2000);
          await exitedPromise;
          clearTimeout(t);
        }
        await cleanupDir();
      })();
      return stopping;
    },
  };
}
