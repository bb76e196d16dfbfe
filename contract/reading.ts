import { z } from 'zod';
import { deviceRefSchema, gatewayIdSchema } from './ids';
import { METRICS, metricNameSchema } from './metrics';

/** Local date-time as the device sent it, no zone (GSS Date Time 0x2A08 shape). */
export const deviceTimeSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?$/, 'ISO 8601 local time without zone');

export const clockSchema = z.object({
  /** device clock minus gateway clock, measured at connection, in ms */
  offsetMs: z.number().int(),
  /** false when the device clock was unset, far off or jumped: measuredAt then comes from reception time */
  trusted: z.boolean(),
});

/**
 * One measurement, in the canonical unit of its metric (wire contract v1).
 * `id` is deterministic (contract/ids.ts readingId) so a re-sent reading is the same reading.
 */
export const readingSchema = z
  .object({
    id: z.string().regex(/^[0-9a-f]{32}$/, '32 hex chars'),
    gatewayId: gatewayIdSchema,
    device: deviceRefSchema,
    metric: metricNameSchema,
    value: z.number(), // zod 4 refuses Infinity and NaN by default
    unit: z.string().min(1),
    /** unit the device itself used, when it differs from the canonical unit (e.g. kPa, [lb_av], [degF]) */
    deviceUnit: z.string().min(1).optional(),
    measuredAt: z.iso.datetime({ offset: false }),
    deviceTime: deviceTimeSchema.optional(),
    sequence: z.number().int().nonnegative().optional(),
    userIndex: z.number().int().min(0).max(255).optional(),
    flags: z
      .array(z.string().regex(/^[a-z0-9_]{1,48}$/))
      .max(32)
      .default([]),
    clock: clockSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const expected = METRICS[r.metric].unit;
    if (r.unit !== expected) {
      ctx.addIssue({ code: 'custom', path: ['unit'], message: `unit for ${r.metric} must be ${expected}` });
    }
  });

export type Reading = z.infer<typeof readingSchema>;
export type ReadingInput = z.input<typeof readingSchema>;
export type Clock = z.infer<typeof clockSchema>;
