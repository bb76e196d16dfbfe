/**
 * Live readings first: while the live lane files a group, the bulk lane's shard transactions hold
 * their next PostgreSQL statement back, so a crisis reading's ten or so round trips do not queue behind
 * a backlog's statements on the database's cores and on the hub's event loop (bench/README.md,
 * session 15). Bounded both ways: a hold lasts at most `maxHoldMs` (a live group waiting for a
 * patient lock that a held bulk transaction owns gets it after that), and the gate stays open at
 * least as long as it was last held, so a steady live stream slows a backlog by half at most.
 */
export class LivePriority {
  private live = 0;
  private heldSince: number | undefined;
  private openedAt = 0;
  private lastHeldMs = 0;
  private release: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxHoldMs = 50,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** a live group starts filing */
  enter(): void {
    this.live++;
    const t = this.now();
    if (this.heldSince === undefined && t - this.openedAt >= this.lastHeldMs) {
      this.heldSince = t;
      this.release = new Promise<void>((res) => (this.wake = res));
      this.timer = setTimeout(() => this.open(), this.maxHoldMs);
      this.timer.unref();
    }
  }

  /** a live group is done (stored or failed) */
  leave(): void {
    this.live = Math.max(0, this.live - 1);
    if (this.live === 0) this.open();
  }

  /** undefined: go on at once; else a promise that resolves when the bulk statement may go */
  hold(): Promise<void> | undefined {
    return this.heldSince === undefined ? undefined : this.release;
  }

  private open(): void {
    if (this.heldSince === undefined) return;
    const t = this.now();
    this.lastHeldMs = t - this.heldSince;
    this.openedAt = t;
    this.heldSince = undefined;
    clearTimeout(this.timer);
    this.wake?.();
    this.wake = undefined;
    this.release = undefined;
  }
}
