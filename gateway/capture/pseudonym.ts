import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Device addresses in a trace are pseudonyms: HMAC-SHA256 of the real address under a secret
 * key, shortened to a static random address (two top bits 1, Core Vol 6 Part B 1.3.2.1) so
 * that the replay can serve the device under it. The same key gives the same pseudonym for the
 * same device (several traces from one box line up); without the key the real address cannot be
 * found back. The key stays on the box, never in a trace.
 */
export class Pseudonymizer {
  private readonly cache = new Map<string, string>();
  constructor(private readonly key: Uint8Array) {
    if (key.length < 16) throw new Error('pseudonym key: at least 16 bytes');
  }

  /** a key that lives only as long as this process (an import whose pseudonyms need not line up) */
  static ephemeral(): Pseudonymizer {
    return new Pseudonymizer(randomBytes(32));
  }

  /** the box's key file, created (mode 0600) on first use */
  static fromKeyFile(path: string): Pseudonymizer {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    }
    return new Pseudonymizer(Buffer.from(readFileSync(path, 'utf8').trim(), 'hex'));
  }

  address(real: string): string {
    const a = real.toUpperCase();
    let p = this.cache.get(a);
    if (!p) {
      const d = createHmac('sha256', this.key).update(`vigil-trace-address:${a}`).digest();
      d[0] = (d[0] ?? 0) | 0xc0;
      p = [...d.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
      this.cache.set(a, p);
    }
    return p;
  }
}
