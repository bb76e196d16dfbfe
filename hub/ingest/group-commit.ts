/**
 * Group commit: requests that arrive while a group is being filed wait together and are filed as
 * the next group, in arrival order, so the stores see a few large writes instead of many small
 * ones. Nothing waits on a timer: under light load a group is the one request that arrived; under
 * load it is everything that queued up during the previous group (bounded by `maxWeight`).
 * Up to `concurrency` groups are filed at once (the next group's PostgreSQL work overlaps the
 * previous group's InfluxDB write and rules).
 */
export interface GroupCommitOptions {
  /** a group holds requests up to this total weight (readings); one heavier request goes alone */
  maxWeight: number;
  concurrency: number;
}

interface Waiting<T, R> {
  item: T;
  weight: number;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export class GroupCommit<T, R> {
  private readonly queue: Waiting<T, R>[] = [];
  private head = 0;
  private active = 0;

  constructor(
    /** files a group; returns one result per item, in order, or throws for the whole group */
    private readonly fileGroup: (items: T[]) => Promise<R[]>,
    private readonly weigh: (item: T) => number,
    private readonly opts: GroupCommitOptions,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, weight: this.weigh(item), resolve, reject });
      this.pump();
    });
  }

  /** requests waiting for a group */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.waiting > 0) {
      const group: Waiting<T, R>[] = [];
      let weight = 0;
      for (let next = this.queue.at(this.head); next; next = this.queue.at(this.head)) {
        if (group.length > 0 && weight + next.weight > this.opts.maxWeight) break;
        group.push(next);
        weight += next.weight;
        this.head++;
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.active++;
      void this.run(group);
    }
  }

  private async run(group: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await this.fileGroup(group.map((w) => w.item));
      if (results.length !== group.length) throw new Error('GROUP_RESULTS_MISMATCH: one result per request expected');
      results.forEach((r, i) => group[i]?.resolve(r));
    } catch (e) {
      for (const w of group) w.reject(e);
    } finally {
      this.active--;
      this.pump();
    }
  }
}
