import type { PeripheralLink } from '../peripheral';

export interface StoredPacket {
  bytes: Uint8Array;
  transferred: boolean;
}

/**
 * Stored records sent on one characteristic when the client subscribes (BLS 1.1 4.4, WSS 1.0 /
 * HTS 1.0 "stored measurements are sent once the CCCD is configured"). A record counts as
 * transferred once its indication went out on a live link; a dropped link leaves the rest pending.
 */
export class RecordChannel {
  readonly records: StoredPacket[] = [];
  private sending = false;

  constructor(
    readonly service: string,
    readonly characteristic: string,
    private readonly opts: { intervalMs?: number; resendAll?: boolean } = {},
  ) {}

  add(bytes: Uint8Array, link?: PeripheralLink): void {
    this.records.push({ bytes, transferred: false });
    if (link) this.flush(link);
  }

  pending(): StoredPacket[] {
    return this.records.filter((r) => this.opts.resendAll || !r.transferred);
  }

  /** sends pending records one per interval while the link is up and subscribed */
  flush(link: PeripheralLink, onDone?: () => void): void {
    if (this.sending) return;
    const queue = this.pending();
    if (queue.length === 0) return onDone?.();
    this.sending = true;
    const next = () => {
      const r = queue.shift();
      if (!r || !link.up) {
        this.sending = false;
        if (!r && link.up) onDone?.();
        return;
      }
      if (link.notify(this.service, this.characteristic, r.bytes)) r.transferred = true;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a refused notify may have dropped the link
      else if (!link.up || !link.subscribed(this.service, this.characteristic)) {
        this.sending = false;
        return;
      }
      if (queue.length === 0) {
        this.sending = false;
        onDone?.();
        return;
      }
      link.later(this.opts.intervalMs ?? 5, next);
    };
    next();
  }

  reset(): void {
    this.sending = false;
  }
}
