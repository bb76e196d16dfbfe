import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../hub/ingest/group-commit';

/** A filer that holds each group until released, recording the groups it was given. */
function gatedFiler() {
  const groups: number[][] = [];
  const gates: (() => void)[] = [];
  let failNext: Error | undefined;
  return {
    groups,
    release: () => gates.shift()?.(),
    failNextWith: (e: Error) => (failNext = e),
    file: async (items: number[]) => {
      groups.push(items);
      const fail = failNext;
      failNext = undefined;
      await new Promise<void>((resolve) => gates.push(resolve));
      if (fail) throw fail;
      return items.map((i) => i * 10);
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('files what arrives while a group is in flight as the next group, in order, one result each', async () => {
    const f = gatedFiler();
    const g = new GroupCommit(f.file, () => 1, { maxWeight: 100, concurrency: 1 });
    const first = g.submit(1);
    const rest = [2, 3, 4].map((i) => g.submit(i));
    await tick();
    expect(f.groups).toEqual([[1]]);
    expect(g.waiting).toBe(3);
    f.release();
    expect(await first).toBe(10);
    await tick();
    expect(f.groups).toEqual([[1], [2, 3, 4]]);
    f.release();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it('bounds a group by weight (a single heavier request still goes alone) and runs `concurrency` groups at once', async () => {
    const f = gatedFiler();
    const g = new GroupCommit(f.file, (i) => i, { maxWeight: 5, concurrency: 2 });
    const all = [9, 2, 2, 2, 1, 3].map((i) => g.submit(i));
    await tick();
    // two groups at once, taken as requests arrive: 9 alone (heavier than the bound), then 2
    expect(f.groups).toEqual([[9], [2]]);
    f.release();
    await tick();
    // then what waited, up to the bound: 2+2+1 (the 3 would exceed 5)
    expect(f.groups).toEqual([[9], [2], [2, 2, 1]]);
    f.release();
    await tick();
    expect(f.groups).toEqual([[9], [2], [2, 2, 1], [3]]);
    f.release();
    f.release();
    expect(await Promise.all(all)).toEqual([90, 20, 20, 20, 10, 30]);
  });

  it('rejects every request of a failed group and goes on with the next group', async () => {
    const f = gatedFiler();
    const g = new GroupCommit(f.file, () => 1, { maxWeight: 10, concurrency: 1 });
    f.failNextWith(Object.assign(new Error('down'), { code: '08006' }));
    const a = g.submit(1);
    await tick();
    const b = [g.submit(2), g.submit(3)];
    f.release();
    await expect(a).rejects.toThrow('down');
    await tick();
    f.release();
    expect(await Promise.all(b)).toEqual([20, 30]);
  });
});
