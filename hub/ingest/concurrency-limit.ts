/**
 * First-in first-out limit on concurrent async work. The embedded broker files every gateway's
 * batch concurrently; without a limit, thousands of batches after a reconnect storm share the
 * PostgreSQL pool query by query and all finish (and receipt) together minutes later. With the
 * limit, batches finish in arrival order and receipts flow from the first second.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
