import type { Logger } from 'pino';
import type { BleTransport, RadioEvent } from './transport';

export type RadioHealth = 'ok' | 'recovering' | 'failed';

export interface RadioSupervisorOptions {
  /** recovery attempts stop after this long; the process then exits so systemd restarts it */
  recoveryDeadlineMs?: number;
  /** first pause between recovery attempts (doubles up to retryMaxMs) */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** how often the adapter state is checked besides the events (a missed signal, no adapter at boot) */
  checkIntervalMs?: number;
  /** recovery failed for good: main.ts exits non-zero (systemd Restart=on-failure) */
  onFatal: (code: string) => void;
  /** health changed (the heartbeat carries it at once) */
  onHealth?: (health: RadioHealth) => void;
}

/** operator log codes, one per cause (docs/operations.md "Radio") */
const EVENT_CODES: Partial<Record<RadioEvent, string>> = {
  'adapter-lost': 'RADIO_ADAPTER_LOST',
  'adapter-off': 'RADIO_ADAPTER_OFF',
  'bluetoothd-gone': 'RADIO_BLUETOOTHD_GONE',
  'bluetoothd-restarted': 'RADIO_BLUETOOTHD_RESTARTED',
  'bus-error': 'RADIO_BUS_ERROR',
};

/**
 * Keeps the gateway hearing its devices. After bluetoothd restarts, the adapter is unplugged or
 * powered off, discovery is off and the agent forgotten: without this the gateway goes deaf and
 * systemd, seeing a live process, never notices. On such an event the supervisor logs its code,
 * flags the heartbeat, and calls `recover` (a fresh transport start: adapter powered on, agent
 * registered, discovery restarted) with backoff until it succeeds or the deadline passes.
 */
export class RadioSupervisor {
  health: RadioHealth = 'ok';
  /** the last radio event's code, for the heartbeat */
  lastCode: string | undefined;
  private recovering: Promise<void> | undefined;
  private kick: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly transport: BleTransport,
    private readonly recover: () => Promise<void>,
    private readonly log: Logger,
    private readonly opts: RadioSupervisorOptions,
  ) {}

  start(): void {
    this.transport.onRadioEvent?.((e) => this.onEvent(e));
    this.timer = setInterval(() => {
      const state = this.transport.adapterState();
      if (state !== 'powered' && !this.recovering) void this.trigger(`RADIO_ADAPTER_${state.toUpperCase()}`);
    }, this.opts.checkIntervalMs ?? 5_000);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.kick?.();
  }

  private onEvent(e: RadioEvent): void {
    const code = EVENT_CODES[e];
    if (code) void this.trigger(code);
    // the radio is back: try at once rather than at the end of the current pause
    else if (this.recovering) this.kick?.();
  }

  /** starts a recovery unless one runs; resolves when it ends */
  trigger(code: string): Promise<void> {
    this.lastCode = code;
    if (this.recovering) {
      this.kick?.();
      return this.recovering;
    }
    this.log.error({ code, adapter: this.transport.adapterState() }, 'radio lost; recovering');
    this.setHealth('recovering');
    this.recovering = this.run(code).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async run(cause: string): Promise<void> {
    const started = Date.now();
    const deadline = started + (this.opts.recoveryDeadlineMs ?? 120_000);
    let pause = this.opts.retryInitialMs ?? 500;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.recover();
        this.log.warn(
          { code: 'RADIO_RECOVERED', cause, attempt, afterMs: Date.now() - started },
          'radio recovered; discovery running',
        );
        this.setHealth('ok');
        return;
      } catch (e) {
        if (Date.now() + pause > deadline) {
          this.log.fatal(
            { code: 'RADIO_RECOVERY_FAILED', cause, attempts: attempt, err: (e as Error).message },
            'radio not recovered; exiting so that the service manager restarts the gateway',
          );
          this.setHealth('failed');
          this.opts.onFatal('RADIO_RECOVERY_FAILED');
          return;
        }
        this.log.info(
          { code: 'RADIO_RECOVERY_RETRY', cause, attempt, err: (e as Error).message },
          'radio not back yet',
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pause);
        this.kick = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.kick = undefined;
      pause = Math.min(pause * 2, this.opts.retryMaxMs ?? 10_000);
    }
  }

  private setHealth(h: RadioHealth): void {
    if (this.health === h) return;
    this.health = h;
    this.opts.onHealth?.(h);
  }
}
