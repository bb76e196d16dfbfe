import { z } from 'zod';
import { gatewayIdSchema } from './ids';

/** Wire contract version; it is part of every topic and every payload. */
export const WIRE_VERSION = 1 as const;
export const MAX_BATCH_READINGS = 500;
export const MAX_PAYLOAD_BYTES = 512 * 1024;

/**
 * gateway -> hub, topic vigil/v1/<gatewayId>/readings, QoS 1.
 * Readings are validated one by one at the hub (one bad reading never blocks the batch),
 * so the envelope types them as unknown.
 */
export const readingBatchSchema = z
  .object({
    v: z.literal(WIRE_VERSION),
    gatewayId: gatewayIdSchema,
    batchId: z.string().min(1).max(64),
    sentAt: z.iso.datetime({ offset: false }),
    readings: z.array(z.unknown()).min(1).max(MAX_BATCH_READINGS),
  })
  .strict();
export type ReadingBatch = z.infer<typeof readingBatchSchema>;

/**
 * What the hub did with one reading. Every outcome means "durably kept by the hub", so the
 * gateway may delete it from its buffer:
 * stored (new, in the time series), duplicate (already stored earlier),
 * quarantined (kept, device/user not mapped to a patient yet), rejected (kept in dead letters).
 */
export const receiptOutcomeSchema = z.enum(['stored', 'duplicate', 'quarantined', 'rejected']);
export type ReceiptOutcome = z.infer<typeof receiptOutcomeSchema>;

/** hub -> gateway, topic vigil/v1/<gatewayId>/receipts, QoS 1, sent only after storage. */
export const receiptSchema = z
  .object({
    v: z.literal(WIRE_VERSION),
    batchId: z.string(),
    results: z.array(z.object({ id: z.string(), outcome: receiptOutcomeSchema, code: z.string().optional() }).strict()),
  })
  .strict();
export type Receipt = z.infer<typeof receiptSchema>;

/** gateway -> hub, topic vigil/v1/<gatewayId>/status, retained: birth (online) and last will (offline). */
export const statusSchema = z
  .object({
    v: z.literal(WIRE_VERSION),
    gatewayId: gatewayIdSchema,
    state: z.enum(['online', 'offline']),
    at: z.iso.datetime({ offset: false }).optional(),
    version: z.string().optional(),
  })
  .strict();
export type GatewayStatus = z.infer<typeof statusSchema>;

/**
 * Over-the-air update states a box reports (docs/operations.md "Over-the-air updates"); the hub
 * adds `offered` when it offers a release. Terminal: healthy, rolled_back, refused.
 */
export const UPDATE_STATES = [
  'offered',
  'downloading',
  'installed',
  'waiting',
  'switching',
  'healthy',
  'rolled_back',
  'refused',
] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** the box's report on the last release it was offered, carried by every heartbeat */
export const updateReportSchema = z
  .object({
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semantic version'),
    state: z.enum(UPDATE_STATES).exclude(['offered']),
    /** a stable CODE (RELEASE_SIGNATURE_INVALID, HEALTH_DEADLINE, CRASHED_AT_START, DEVICE_SESSION...) */
    reason: z.string().max(200).optional(),
  })
  .strict();
export type UpdateReport = z.infer<typeof updateReportSchema>;

/** gateway -> hub, topic vigil/v1/<gatewayId>/heartbeat, periodic. */
export const heartbeatSchema = z
  .object({
    v: z.literal(WIRE_VERSION),
    gatewayId: gatewayIdSchema,
    at: z.iso.datetime({ offset: false }),
    uptimeS: z.number().nonnegative(),
    version: z.string(),
    queue: z.object({
      depth: z.number().int().nonnegative(),
      oldestAt: z.iso.datetime({ offset: false }).nullable(),
      bytes: z.number().int().nonnegative(),
      alarm: z.string().nullable(),
    }),
    adapter: z.string(),
    /** radio supervisor: 'recovering' while the gateway cannot hear its devices (gateway/ble/radio-supervisor.ts) */
    radio: z.enum(['ok', 'recovering', 'failed']).optional(),
    /** over-the-air update in progress or its outcome (gateway/update/ota-agent.ts) */
    update: updateReportSchema.optional(),
    devices: z.array(
      z.object({
        key: z.string(),
        lastSeenAt: z.iso.datetime({ offset: false }).nullable(),
        battery: z.number().min(0).max(100).nullable(),
        rssi: z.number().nullable(),
      }),
    ),
  })
  .strict();
export type Heartbeat = z.infer<typeof heartbeatSchema>;
