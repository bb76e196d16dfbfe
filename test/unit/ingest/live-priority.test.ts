import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LivePriority } from '../../../hub/ingest/live-priority';

/** whether `p` has settled once pending microtasks and due timers have run */
async function settled(p: Promise<void> | undefined): Promise<boolean> {
  if (!p) return true;
  let done = false;
  void p.then(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('live readings first (live-priority.ts)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const gate = () => new LivePriority(50, () => Date.now());

  it('lets bulk statements go at once while no live group files', () => {
    const g = gate();
    expect(g.hold()).toBeUndefined();
    g.enter();
    g.leave();
    expect(g.hold()).toBeUndefined();
  });

  it('holds bulk statements until every live group in flight is done', async () => {
    const g = gate();
    g.enter();
    g.enter();
    const held = g.hold();
    expect(held).toBeInstanceOf(Promise);
    vi.advanceTimersByTime(10);
    g.leave();
    expect(await settled(held)).toBe(false);
    g.leave();
    expect(await settled(held)).toBe(true);
    expect(g.hold()).toBeUndefined();
  });

  it('holds at most maxHoldMs: a live group waiting for a lock a held transaction owns gets it', async () => {
    const g = gate();
    g.enter();
    const held = g.hold();
    await vi.advanceTimersByTimeAsync(49);
    expect(await settled(held)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(held)).toBe(true);
    // the live group is still filing, but its hold is spent
    expect(g.hold()).toBeUndefined();
    g.leave();
  });

  it('stays open at least as long as it last held: a steady live stream slows a backlog by half at most', async () => {
    const g = gate();
    g.enter();
    await vi.advanceTimersByTimeAsync(30);
    g.leave(); // held 30 ms
    await vi.advanceTimersByTimeAsync(29);
    g.enter();
    expect(g.hold()).toBeUndefined(); // open for 29 ms only: this live group does not hold
    g.leave();
    await vi.advanceTimersByTimeAsync(1);
    g.enter();
    expect(g.hold()).toBeInstanceOf(Promise); // open for 30 ms: it may hold again
    g.leave();
    expect(g.hold()).toBeUndefined();
  });
});
