import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Accelerated clock: simulated time runs `speed` times faster than the wall clock from a common
 * origin (speed 3600: one simulated hour per second, a 2-week scenario in about 6 minutes).
 */
export class AcceleratedClock {
  constructor(
    readonly simOrigin: number,
    readonly speed: number,
    readonly wallOrigin: number = Date.now(),
    private readonly wallNow: () => number = Date.now,
  ) {
    if (!(speed > 0)) throw new Error('speed must be > 0');
  }

  /** simulated ms now */
  now(): number {
    return this.simOrigin + (this.wallNow() - this.wallOrigin) * this.speed;
  }

  /** wall-clock ms at which simulated time `simMs` is reached */
  wallAt(simMs: number): number {
    return this.wallOrigin + (simMs - this.simOrigin) / this.speed;
  }
}

/**
 * Emits items when the accelerated clock reaches their time (a gateway receiving the readings
 * as the devices take them). `wait` is injectable so tests need no real time.
 */
export async function replay<T>(
  items: readonly T[],
  timeOf: (item: T) => number,
  clock: AcceleratedClock,
  emit: (item: T) => void | Promise<void>,
  wait: (ms: number) => Promise<unknown> = (ms) => sleep(ms),
  wallNow: () => number = Date.now,
): Promise<void> {
  for (const item of items) {
    const due = clock.wallAt(timeOf(item)) - wallNow();
    if (due > 0) await wait(due);
    await emit(item);
  }
}
