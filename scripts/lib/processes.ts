import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** the JSON "ready" line the service printed */
  ready: Record<string, unknown>;
  /** lines the service wrote (stdout and stderr), for assertions and post-mortems */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a TypeScript entry point (`node --import tsx <entry>`) as a real process and resolves when
 * it prints its JSON ready line ({"event":"<readyEvent>",...}). Output is kept and optionally echoed.
 */
export function startService(
  name: string,
  entry: string,
  opts: {
    args?: string[];
    env?: NodeJS.ProcessEnv;
    readyEvent: string;
    timeoutMs?: number;
    echo?: (line: string) => void;
    cwd?: string;
    /** node options before the entry; default `--import tsx` (a built bundle runs with the box's V8 flags instead) */
    nodeArgs?: readonly string[];
    /**
     * run in its own process group: a Ctrl-C in the terminal then reaches only the owner, which
     * stops its services in order (gateways before the hub); the owner must stop it on every exit
     */
    ownProcessGroup?: boolean;
    /** called once the process exists, before it is ready (an owner stopping early can kill it) */
    onSpawn?: (child: ChildProcess) => void;
    /** how long stop() waits after its signal before SIGKILL; default 10 s */
    stopGraceMs?: number;
  },
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? ['--import', 'tsx']), entry, ...(opts.args ?? [])], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownProcessGroup ?? false,
  });
  opts.onSpawn?.(child);
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} not ready after ${opts.timeoutMs ?? 60_000} ms:\n${lines.slice(-30).join('\n')}`));
    }, opts.timeoutMs ?? 60_000);
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      opts.echo?.(line);
      if (line.startsWith('{"event":')) {
        try {
          const ev = JSON.parse(line) as Record<string, unknown>;
          if (ev.event === opts.readyEvent) {
            clearTimeout(timer);
            resolve({
              name,
              child,
              ready: ev,
              lines,
              stop: async (signal = 'SIGTERM') => {
                if (child.exitCode === null && child.signalCode === null) child.kill(signal);
                const t = setTimeout(() => child.kill('SIGKILL'), opts.stopGraceMs ?? 10_000);
                const code = await exited;
                clearTimeout(t);
                return code;
              },
            });
          }
        } catch {
          /* not a ready line */
        }
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${lines.slice(-30).join('\n')}`));
    });
  });
}
