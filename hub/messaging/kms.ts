import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * A small KMS-style interface: the application seals data with a named key and opens it again.
 * Today the keys come from the environment (EnvKeyring); a hosted KMS (Vault transit, a cloud
 * KMS) fits behind the same two calls. `aad` binds the ciphertext to its row (thread, message),
 * so a sealed body copied to another row does not open.
 */
export interface Keyring {
  readonly currentKeyId: string;
  seal(plain: Buffer, aad: string): Buffer;
  open(sealed: Buffer, keyId: string, aad: string): Buffer;
}

export class KeyringError extends Error {
  constructor(
    readonly code: 'MESSAGE_KEY_INVALID' | 'MESSAGE_KEY_UNKNOWN' | 'MESSAGE_TAMPERED',
    message: string,
  ) {
    super(message);
  }
}

const IV_BYTES = 12; // NIST SP 800-38D section 8.2: 96-bit IVs for GCM
const TAG_BYTES = 16;
const VERSION = 1;

/**
 * AES-256-GCM keys from a string "id1:base64key[,id2:base64key...]" (VIGIL_MESSAGE_KEYS). The
 * first key seals new data; the others still open older rows (rotation). Each key is 32 bytes.
 */
export class EnvKeyring implements Keyring {
  readonly currentKeyId: string;
  private readonly keys = new Map<string, Buffer>();

  constructor(spec: string) {
    for (const part of spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const i = part.indexOf(':');
      const id = part.slice(0, i);
      const key = Buffer.from(part.slice(i + 1), 'base64');
      if (i <= 0 || !/^[a-zA-Z0-9_-]{1,32}$/.test(id))
        throw new KeyringError('MESSAGE_KEY_INVALID', 'each key is written id:base64 (id: letters, digits, - or _)');
      if (key.length !== 32) throw new KeyringError('MESSAGE_KEY_INVALID', `key ${id} is not 32 bytes (AES-256)`);
      this.keys.set(id, key);
    }
    const first = this.keys.keys().next();
    if (first.done) throw new KeyringError('MESSAGE_KEY_INVALID', 'no message key given');
    this.currentKeyId = first.value;
  }

  seal(plain: Buffer, aad: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key(this.currentKeyId), iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, c.getAuthTag(), body]);
  }

  open(sealed: Buffer, keyId: string, aad: string): Buffer {
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION)
      throw new KeyringError('MESSAGE_TAMPERED', 'sealed data has an unknown layout');
    const iv = sealed.subarray(1, 1 + IV_BYTES);
    const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const d = createDecipheriv('aes-256-gcm', this.key(keyId), iv);
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(tag);
    try {
      return Buffer.concat([d.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), d.final()]);
    } catch {
      throw new KeyringError('MESSAGE_TAMPERED', 'sealed data does not authenticate');
    }
  }

  private key(id: string): Buffer {
    const k = this.keys.get(id);
    if (!k) throw new KeyringError('MESSAGE_KEY_UNKNOWN', `no key ${id} in the keyring`);
    return k;
  }
}

/** A fresh key spec, for `vigil` operators and tests: "k<date>:<32 random bytes base64>". */
export function newKeySpec(id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`): string {
  return `${id}:${randomBytes(32).toString('base64')}`;
}
