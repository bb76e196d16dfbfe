import { z } from 'zod';
import { patientIdSchema } from '../../../contract';
import { programIdSchema } from '../../programs/definition';

/**
 * Replay scenario format (docs/clinical/replay.md). Times are either ISO 8601 UTC instants
 * ("2026-03-02T07:30:00Z") or "d<N> HH:MM" = day N after `start`, local wall time in `timeZone`.
 */
const timeSchema = z.union([
  z.iso.datetime({ offset: true }),
  z.string().regex(/^d\d{1,3} \d{2}:\d{2}(:\d{2})?$/, '"d<N> HH:MM" (day N after start, local time)'),
]);

/** How the device dates its measurements. */
const clockSchema = z.union([
  /** the gateway sets the device clock (Current Time Service): device time is right */
  z.literal('synced'),
  /** no clock: records carry no time stamp, the gateway dates them on reception */
  z.literal('none'),
  z
    .object({
      /** device clock minus true time */
      offsetMinutes: z.number().int(),
      /** true: the gateway reads the device clock and corrects; false: no way to know, believed as sent */
      timeService: z.boolean(),
    })
    .strict(),
]);

export const deviceSchema = z
  .object({
    /** the scenario's name for it; also the device's human name in messages */
    name: z.string().min(1),
    address: z.string().regex(/^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/),
    /** which profile the replay encodes measurements with (a driver of drivers/ decodes them) */
    profile: z.enum(['blood_pressure', 'weight_scale', 'thermometer', 'pulse_oximeter', 'glucose_meter']),
    clock: clockSchema.default('synced'),
    /** unit the device itself uses on the wire */
    unit: z.enum(['mmHg', 'kPa', 'kg', 'lb', 'Cel', 'degF', 'mmol/L', 'mg/dL']).optional(),
  })
  .strict();

export const patientSchema = z
  .object({
    id: patientIdSchema,
    /** a built-in program, or one the replay installs (ReplayOptions.programs) */
    program: programIdSchema,
    chronicLungDisease: z.boolean().default(false),
    /** enrolment time; defaults to `start` */
    enrolledAt: timeSchema.optional(),
    devices: z.array(deviceSchema).min(1),
    /** per-patient rule parameters (rule id -> params), as the care team would set them */
    settings: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  })
  .strict();

/** A measurement taken on a device, encoded by the replay as the device's own GATT packet. */
const measureEvent = z
  .object({
    measure: z.string().min(1),
    patient: patientIdSchema.optional(),
    /** when the patient really took it */
    at: timeSchema,
    /** when the gateway received it (default: at); later = kept in the device's memory until then */
    receivedAt: timeSchema.optional(),
    values: z
      .object({
        systolic: z.number(),
        diastolic: z.number(),
        pulse: z.number(),
        weight: z.number(),
        temperature: z.number(),
        spo2: z.number(),
        glucose: z.number(),
      })
      .partial(),
  })
  .strict();

/** A raw GATT notification/indication as captured. */
const gattEvent = z
  .object({
    gatt: z.string().min(1),
    patient: patientIdSchema.optional(),
    characteristic: z.string().regex(/^[0-9a-fA-F]{4}$|^[0-9a-fA-F-]{36}$/),
    hex: z.string().regex(/^([0-9a-fA-F]{2})+$/),
    receivedAt: timeSchema,
  })
  .strict();

/** An already decoded reading (e.g. exported from another system), through the reading factory. */
const readingEvent = z
  .object({
    reading: z.string().min(1),
    patient: patientIdSchema.optional(),
    metric: z.string(),
    value: z.number(),
    unit: z.string(),
    /** device time as sent (local wall time, no zone) or absent for a clockless device */
    measuredAt: timeSchema.optional(),
    receivedAt: timeSchema,
    /** stored-record sequence number, when the device numbers its records */
    sequence: z.number().int().nonnegative().optional(),
  })
  .strict();

/** The device sends its whole memory again (clockless cuffs do at every connection). */
const resendEvent = z
  .object({
    resend: z.string().min(1),
    patient: patientIdSchema.optional(),
    receivedAt: timeSchema,
    /** only the last N stored records */
    last: z.number().int().positive().optional(),
  })
  .strict();

export const eventSchema = z.union([measureEvent, gattEvent, readingEvent, resendEvent]);

export const expectationSchema = z
  .object({
    patient: patientIdSchema,
    /** rule id; absent = any rule */
    rule: z.string().optional(),
    severity: z.enum(['amber', 'red']),
  })
  .strict();

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** the published source the scenario is written from (guideline, section, year) */
    source: z.string().min(1),
    /** what the scenario is meant to show */
    category: z.enum(['must-fire-red', 'must-fire-amber', 'stable', 'noisy', 'device-fault', 'threshold']).optional(),
    start: z.iso.datetime({ offset: true }),
    timeZone: z.string().default('Europe/Paris'),
    /** the scheduler runs every this many simulated minutes (missing data, re-measure expiry) */
    tickMinutes: z.number().int().positive().max(1440).default(60),
    /** simulated end (default: 2 h after the last event) */
    end: timeSchema.optional(),
    patients: z.array(patientSchema).min(1),
    events: z.array(eventSchema),
    /** library use: the episodes that must open (and nothing else, nothing redder) */
    expect: z
      .object({ episodes: z.array(expectationSchema).default([]), stablePatientWeeks: z.number().optional() })
      .strict()
      .optional(),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioEvent = z.infer<typeof eventSchema>;
export type ScenarioDevice = z.infer<typeof deviceSchema>;
export type ScenarioPatient = z.infer<typeof patientSchema>;

/** Resolves a scenario time to a UTC instant. */
export function resolveTime(
  t: string,
  start: Date,
  timeZone: string,
  localToUtc: (s: string, tz: string) => Date,
): Date {
  const m = /^d(\d{1,3}) (\d{2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (!m) return new Date(t);
  const startLocal = localDate(start, timeZone);
  const day = new Date(Date.UTC(startLocal.y, startLocal.m - 1, startLocal.d + Number(m[1])));
  const iso = `${day.toISOString().slice(0, 10)}T${m[2]}:${m[3]}:${m[4] ?? '00'}`;
  return localToUtc(iso, timeZone);
}

function localDate(t: Date, timeZone: string): { y: number; m: number; d: number } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(t)
    .reduce<Record<string, string>>((acc, p) => ({ ...acc, [p.type]: p.value }), {});
  return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day) };
}
