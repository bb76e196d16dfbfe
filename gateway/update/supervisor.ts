import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { currentVersion, layout, pruneVersions, readOtaState, switchTo, writeOtaState } from './layout';

/**
 * The over-the-air supervisor (docs/operations.md "Over-the-air updates"): the small process systemd
 * starts, which runs the gateway release `current` points at as its child. Rolling back a release
 * that crashes at start, hangs or fails its self-check needs a process that does not run that
 * release's code: this one. It is installed with the box and is not replaced over the air.
 *
 * - the gateway exits with UPDATE_EXIT_CODE once its agent staged a verified release and no device
 *   session runs (ota-state.json: switching, from, to): `current` is switched and the new release
 *   started on trial;
 * - the release on trial must send {type:'healthy'} over the IPC channel (its self-check passed and
 *   its heartbeat reached the hub) within healthDeadlineMs: it is promoted (state healthy) and told so;
 * - if it exits first, or the deadline passes, it is stopped, `current` goes back to the previous
 *   release, and the state says rolled_back with the reason; the previous release reports it.
 */
export const UPDATE_EXIT_CODE = 75; // EX_TEMPFAIL (sysexits.h): "start me again", here on the new release
/** exit status of a configuration error: restarting will not fix it (docs/operations.md "Command lines") */
const CONFIG_EXIT_CODE = 2;
/** starts of a release on trial before it is given up (a power cut during the trial restarts it) */
const MAX_TRIAL_ATTEMPTS = 3;

/** IPC, release on trial -> supervisor: its self-check passed (gateway/update/self-check.ts) */
export const supervisorMessageSchema = z.object({ type: z.literal('healthy'), version: z.string() });
export type SupervisorMessage = z.infer<typeof supervisorMessageSchema>;
/** IPC, supervisor -> gateway: the release was recorded healthy */
export const gatewayMessageSchema = z.object({ type: z.literal('promoted') });
export type GatewayMessage = z.infer<typeof gatewayMessageSchema>;

export interface SupervisorOptions {
  root: string;
  /** arguments after the bundle: `run --config <file>` */
  args: readonly string[];
  nodeFlags: readonly string[];
  healthDeadlineMs: number;
  restartDelayMs?: number;
  log?: (event: Record<string, unknown>) => void;
}

export class Supervisor {
  private child: ChildProcess | undefined;
  private trial: { from: string; to: string; timer: NodeJS.Timeout } | undefined;
  private stopReason: string | undefined;
  private stopping = false;
  private crashes = 0;
  private readonly log: (e: Record<string, unknown>) => void;
  readonly exited: Promise<number>;
  private resolveExit!: (code: number) => void;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.log ?? ((e) => console.log(JSON.stringify(e)));
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  start(): void {
    const root = this.opts.root;
    if (!existsSync(layout(root).current)) throw new Error(`no release installed: ${layout(root).current} missing`);
    const s = readOtaState(root);
    // a power cut or a service restart while a release was on trial: try it again, a few times
    if (s?.state === 'switching' && s.from && currentVersion(root) === s.version) {
      const attempts = (s.attempts ?? 0) + 1;
      writeOtaState(root, { ...s, attempts });
      if (attempts > MAX_TRIAL_ATTEMPTS) this.rollBack(s.from, s.version, 'CRASH_LOOP');
      else this.beginTrial(s.from, s.version);
    }
    this.spawnChild();
  }

  /** SIGTERM from systemd: stop the gateway (it flushes and says offline), then leave */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.trial) clearTimeout(this.trial.timer);
    if (!this.child || this.child.exitCode !== null) {
      this.resolveExit(0);
      return;
    }
    await this.terminate(this.child);
  }

  private spawnChild(): void {
    const root = this.opts.root;
    const child = spawn(
      process.execPath,
      [...this.opts.nodeFlags, layout(root).bundle(currentVersion(root) ?? 'none'), ...this.opts.args],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, VIGIL_GATEWAY_ROOT: root, VIGIL_GATEWAY_SUPERVISED: '1' },
      },
    );
    this.child = child;
    child.on('message', (m) => {
      if (supervisorMessageSchema.safeParse(m).success && this.trial && child === this.child) this.promote(child);
    });
    child.on('exit', (code, signal) => this.onExit(child, code ?? (signal ? 128 : 1)));
    this.log({ event: 'supervisor.started', version: currentVersion(root), pid: child.pid, trial: !!this.trial });
  }

  private onExit(child: ChildProcess, code: number): void {
    if (child !== this.child) return;
    this.child = undefined;
    if (this.stopping) {
      this.resolveExit(0);
      return;
    }
    const root = this.opts.root;
    if (this.trial) {
      const { from, to } = this.trial;
      this.rollBack(from, to, this.stopReason ?? `CRASHED_AT_START (exit ${code})`);
      this.spawnChild();
      return;
    }
    const s = readOtaState(root);
    if (code === UPDATE_EXIT_CODE && s?.state === 'switching' && s.from && existsSync(layout(root).bundle(s.version))) {
      switchTo(root, s.version);
      writeOtaState(root, { ...s, attempts: 1 });
      this.beginTrial(s.from, s.version);
      this.spawnChild();
      return;
    }
    if (code === CONFIG_EXIT_CODE) {
      this.log({ event: 'supervisor.exit', code, reason: 'configuration error: restarting will not fix it' });
      this.resolveExit(CONFIG_EXIT_CODE);
      return;
    }
    // like systemd's Restart=always: a crash of a proven release loses nothing (durable buffer)
    const delay = Math.min(30_000, (this.opts.restartDelayMs ?? 1_000) * 2 ** Math.min(this.crashes++, 5));
    this.log({ event: 'supervisor.restart', code, delayMs: delay });
    setTimeout(() => {
      if (!this.stopping) this.spawnChild();
    }, delay);
  }

  private beginTrial(from: string, to: string): void {
    const timer = setTimeout(() => {
      if (!this.trial || !this.child) return;
      this.stopReason = 'HEALTH_DEADLINE';
      void this.terminate(this.child);
    }, this.opts.healthDeadlineMs);
    this.trial = { from, to, timer };
    this.stopReason = undefined;
    this.log({ event: 'supervisor.trial', from, to, deadlineMs: this.opts.healthDeadlineMs });
  }

  private promote(child: ChildProcess): void {
    if (!this.trial) return;
    const { from, to, timer } = this.trial;
    clearTimeout(timer);
    this.trial = undefined;
    this.crashes = 0;
    writeOtaState(this.opts.root, { version: to, state: 'healthy', from });
    // the new release and its rollback target stay; older ones go
    pruneVersions(this.opts.root, [to, from]);
    child.send({ type: 'promoted' } satisfies GatewayMessage);
    this.log({ event: 'supervisor.promoted', version: to });
  }

  private rollBack(from: string, to: string, reason: string): void {
    if (this.trial) clearTimeout(this.trial.timer);
    this.trial = undefined;
    this.stopReason = undefined;
    switchTo(this.opts.root, from);
    writeOtaState(this.opts.root, { version: to, state: 'rolled_back', reason, from });
    this.log({ event: 'supervisor.rolled_back', from: to, to: from, reason });
  }

  private terminate(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
