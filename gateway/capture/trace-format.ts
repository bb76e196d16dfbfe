import { z } from 'zod';
import { uuidSchema } from '../../drivers/sdk/uuid';

/**
 * Vigil BLE trace, version 1 (docs/capture-and-replay.md): JSON lines, one record per line, the
 * first a header. Written by `vigil-gateway trace` (gateway/capture/tracing-transport.ts) and by
 * the btsnoop importer (gateway/capture/btsnoop-import.ts); read by the replay
 * (simulators/capture-replay/). Device addresses are pseudonyms (gateway/capture/pseudonym.ts);
 * passkeys and pairing keys never appear. Values are lower-case hex strings of the bytes on air.
 */
export const TRACE_FORMAT = 'vigil-ble-trace';
export const TRACE_VERSION = 1;

const hex = z
  .string()
  .regex(/^([0-9a-f]{2})*$/, 'lower-case even-length hex')
  .describe('bytes as lower-case hex');
/** a pseudonymous BLE address (a static random address, Core Vol 6 Part B 1.3.2.1) */
const device = z.string().regex(/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/, 'AA:BB:CC:DD:EE:FF');
/** milliseconds since the trace started */
const t = z.number().min(0);
const handle = z.number().int().min(1).max(0xffff).describe('ATT attribute handle (imported captures)');

/** a GATT operation names its characteristic by UUIDs when known, and by handle when imported */
const target = {
  device,
  t,
  service: uuidSchema.optional(),
  characteristic: uuidSchema.optional(),
  handle: handle.optional(),
};
/** a failed operation: the transport's stable code (BleErrorCode) or an ATT error (0xNN) */
const failure = z.string().min(1).max(64).optional();
/** the value was a secret (a UDS consent code, a vendor pairing key): only its length is kept */
const redacted = z.number().int().min(0).optional().describe('length of a redacted value; value is then ""');

export const traceHeaderSchema = z
  .object({
    type: z.literal('header'),
    format: z.literal(TRACE_FORMAT),
    version: z.literal(TRACE_VERSION),
    createdAt: z.iso.datetime(),
    /** how the trace was made */
    source: z.enum(['gateway', 'btsnoop', 'android-hci', 'constructed']),
    /** free text: device model, firmware, app, what was done (no personal data) */
    note: z.string().max(2000).optional(),
  })
  .strict();

export const traceRecordSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('advertisement'),
      device,
      t,
      name: z.string().max(248).optional(),
      rssi: z.number().int().min(-127).max(20).optional(),
      serviceUuids: z.array(uuidSchema).default([]),
      serviceData: z.record(uuidSchema, hex).default({}),
      manufacturerData: z.record(z.string().regex(/^\d{1,5}$/), hex).default({}),
      connectable: z.boolean().optional(),
    })
    .strict(),
  z.object({ type: z.literal('connect'), device, t, error: failure }).strict(),
  z.object({ type: z.literal('disconnect'), device, t }).strict(),
  z.object({ type: z.literal('pair'), device, t, error: failure }).strict(),
  /** a characteristic the device serves (GATT discovery), with its properties when known */
  z
    .object({
      type: z.literal('characteristic'),
      device,
      t,
      service: uuidSchema.optional(),
      characteristic: uuidSchema,
      handle: handle.optional(),
      properties: z.array(z.string()).optional(),
      present: z.boolean().default(true),
    })
    .strict(),
  z.object({ type: z.literal('read'), ...target, value: hex.optional(), redacted, error: failure }).strict(),
  z
    .object({
      type: z.literal('write'),
      ...target,
      value: hex,
      redacted,
      /** false: Write Command (no response, ATT 0x52) */
      withResponse: z.boolean().optional(),
      error: failure,
    })
    .strict(),
  /** notifications or indications enabled (StartNotify / CCCD write, Core Vol 3 Part G 3.3.3.3) */
  z.object({ type: z.literal('subscribe'), ...target, indicate: z.boolean().optional(), error: failure }).strict(),
  z.object({ type: z.literal('unsubscribe'), ...target }).strict(),
  z
    .object({
      type: z.literal('notify'),
      ...target,
      value: hex,
      redacted,
      /** ATT 0x1B notification or 0x1D indication, when the source tells them apart */
      kind: z.enum(['notification', 'indication']).optional(),
    })
    .strict(),
]);

export type TraceHeader = z.infer<typeof traceHeaderSchema>;
export type TraceRecord = z.infer<typeof traceRecordSchema>;
export type TraceRecordInput = z.input<typeof traceRecordSchema>;
export interface Trace {
  header: TraceHeader;
  records: TraceRecord[];
}

export class TraceFormatError extends Error {
  readonly code = 'TRACE_INVALID';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`TRACE_INVALID: line ${line}: ${message}`);
    this.name = 'TraceFormatError';
  }
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

export function newHeader(source: TraceHeader['source'], note?: string, now = new Date()): TraceHeader {
  return {
    type: 'header',
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    createdAt: now.toISOString(),
    source,
    ...(note ? { note } : {}),
  };
}

/** one line of the file (no newline) */
export const traceLine = (r: TraceHeader | TraceRecord): string => JSON.stringify(r);

export function serializeTrace(trace: Trace): string {
  return [trace.header, ...trace.records].map(traceLine).join('\n') + '\n';
}

/** Parses and validates a whole trace; the first bad line fails with its number. Blank lines are skipped. */
export function parseTrace(text: string): Trace {
  const lines = text.split('\n');
  let header: TraceHeader | undefined;
  const records: TraceRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch {
      throw new TraceFormatError(i + 1, 'not JSON');
    }
    if (!header) {
      const h = traceHeaderSchema.safeParse(data);
      if (!h.success)
        throw new TraceFormatError(
          i + 1,
          `not a ${TRACE_FORMAT} v${TRACE_VERSION} header: ${z.prettifyError(h.error)}`,
        );
      header = h.data;
      return;
    }
    const r = traceRecordSchema.safeParse(data);
    if (!r.success) throw new TraceFormatError(i + 1, z.prettifyError(r.error));
    records.push(r.data);
  });
  if (!header) throw new TraceFormatError(1, 'empty trace');
  return { header, records };
}
