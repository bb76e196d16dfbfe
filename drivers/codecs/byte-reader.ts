import { DecodeError } from '../sdk/errors';

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Little-endian cursor over a GATT value (GSS: multi-octet fields are little-endian unless stated). */
export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  private need(n: number, what: string): number {
    const at = this.offset;
    if (this.bytes.length - at < n) this.truncated(n, what);
    this.offset = at + n;
    return at;
  }

  private truncated(n: number, what: string): never {
    throw new DecodeError('TRUNCATED', `${what} needs ${n} byte(s) at offset ${this.offset}, ${this.remaining} left`);
  }

  u8(what = 'uint8'): number {
    return this.view.getUint8(this.need(1, what));
  }
  u16(what = 'uint16'): number {
    return this.view.getUint16(this.need(2, what), true);
  }
  u16be(what = 'uint16 (big-endian)'): number {
    return this.view.getUint16(this.need(2, what), false);
  }
  i16(what = 'sint16'): number {
    return this.view.getInt16(this.need(2, what), true);
  }
  u24(what = 'uint24'): number {
    const at = this.need(3, what);
    return this.view.getUint8(at) | (this.view.getUint8(at + 1) << 8) | (this.view.getUint8(at + 2) << 16);
  }
  u32(what = 'uint32'): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  i32(what = 'sint32'): number {
    return this.view.getInt32(this.need(4, what), true);
  }
  bytesOf(n: number, what = 'bytes'): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }
  utf8(what = 'utf8s'): string {
    return UTF8.decode(this.bytesOf(this.remaining, what)).replace(/\0+$/, '');
  }
}
