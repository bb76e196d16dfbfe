/**
 * Passkeys relayed from the hub for devices that display one while pairing (passkey entry, Core
 * Vol 3 Part H 2.3.5.1): the nurse types the six digits the patient reads from the cuff screen,
 * the hub sends them on the box's config topic, the pairing agent answers bluetoothd with them.
 * Kept in memory only, used once, and forgotten when they expire: a passkey is worth nothing
 * after its pairing.
 */
export class PasskeyRelay {
  private readonly keys = new Map<string, { passkey: number; until: number }>();
  private readonly waiters = new Map<string, Set<(passkey: number) => void>>();

  /** a passkey for `address`, valid until `untilMs` */
  offer(address: string, passkey: number, untilMs: number): void {
    const a = address.toUpperCase();
    if (untilMs <= Date.now()) return;
    const waiting = this.waiters.get(a);
    if (waiting?.size) {
      for (const w of waiting) w(passkey);
      waiting.clear();
      return;
    }
    this.keys.set(a, { passkey, until: untilMs });
  }

  /** the relayed passkey (consumed), waiting up to timeoutMs for one to arrive */
  wait(address: string, timeoutMs: number): Promise<number | undefined> {
    const a = address.toUpperCase();
    const k = this.keys.get(a);
    this.keys.delete(a);
    if (k && k.until > Date.now()) return Promise.resolve(k.passkey);
    return new Promise((resolve) => {
      const set = this.waiters.get(a) ?? new Set();
      this.waiters.set(a, set);
      const done = (passkey: number | undefined) => {
        clearTimeout(timer);
        set.delete(onKey);
        resolve(passkey);
      };
      const onKey = (passkey: number) => done(passkey);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      set.add(onKey);
    });
  }
}
