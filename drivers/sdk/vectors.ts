import { z } from 'zod';
import { metricNameSchema } from '../../contract';

/**
 * Test vectors live next to each driver as <driver>.vectors.json (Theengs-style raw hex -> expected
 * JSON). Positive vectors give the expected measurements; negative ones an expected decode error
 * code, or an advertisement the driver must not match. One conformance runner checks them all.
 */
const expectedMeasurementSchema = z
  .object({
    metric: metricNameSchema,
    value: z.number(),
    unit: z.string().optional(),
    deviceUnit: z.string().optional(),
    deviceTime: z.string().optional(),
    sequence: z.number().optional(),
    userIndex: z.number().optional(),
    flags: z.array(z.string()).optional(),
  })
  .strict();

/**
 * Where a vector comes from, always (a conformance vector without provenance proves nothing): a
 * specification example ("<spec>, <section>, example ..."), a public capture (its address), or
 * "constructed per <spec section>". Never a device capture that was not made.
 */
const source = z
  .string({
    error: 'every vector needs a "source": a spec example, a public capture, or "constructed per <spec section>"',
  })
  .trim()
  .min(12, 'a "source" names a specification section, an example or a public capture');

const hex = z.string().regex(/^([0-9a-fA-F]{2})*$/, 'even-length hex');

export const packetVectorSchema = z
  .object({
    name: z.string(),
    source,
    characteristic: z.string(),
    hex,
    /**
     * who the device says it is (advertised name, DIS manufacturer/model): the quirk registry
     * (drivers/common/quirk-registry.ts) applies the quirks it knows for that device
     */
    device: z
      .object({ localName: z.string().optional(), manufacturer: z.string().optional(), model: z.string().optional() })
      .strict()
      .optional(),
    /** packets decoded first on the same device context (multi-packet / segmented measurements) */
    preceding: z.array(hex).optional(),
    /** exactly these measurements, in order */
    measurements: z.array(expectedMeasurementSchema).optional(),
    /** these rejected fields (by field name and code), in any order */
    rejected: z.array(z.object({ field: z.string(), code: z.string() }).strict()).optional(),
    /** non-measurement facts expected (partial match) */
    info: z.record(z.string(), z.unknown()).optional(),
    /** a decode error with this stable code is expected instead */
    error: z.string().optional(),
  })
  .strict()
  .refine(
    (v) =>
      (v.error === undefined) !== (v.measurements === undefined && v.rejected === undefined && v.info === undefined),
    'a vector expects either measurements/rejected/info or an error',
  );

export const advertisementVectorSchema = z
  .object({
    name: z.string(),
    source,
    address: z.string().default('AA:BB:CC:DD:EE:FF'),
    localName: z.string().optional(),
    serviceUuids: z.array(z.string()).default([]),
    serviceData: z.record(z.string(), hex).default({}),
    manufacturerData: z.record(z.string(), hex).default({}),
    /** driver id expected to match, or null: no driver of this file may match */
    matches: z.string().nullable(),
    measurements: z.array(expectedMeasurementSchema).optional(),
    rejected: z.array(z.object({ field: z.string(), code: z.string() }).strict()).optional(),
    /** the matched driver must fail to decode it with this stable code */
    error: z.string().optional(),
  })
  .strict();

export const vectorFileSchema = z
  .object({
    driver: z.string(),
    packets: z.array(packetVectorSchema).default([]),
    advertisements: z.array(advertisementVectorSchema).default([]),
  })
  .strict();
export type VectorFile = z.infer<typeof vectorFileSchema>;

export function hexToBytes(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
}
