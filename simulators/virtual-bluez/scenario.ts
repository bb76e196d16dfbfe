import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { AdapterOptions } from './bluez-service';
import type { VirtualPeripheral } from './peripheral';
import {
  ActivityTracker,
  AdvertisingScale,
  BloodPressureCuff,
  GlucoseMeter,
  Oximeter,
  Thermometer,
  WeightScale,
  type DeviceOptions,
} from './peripherals/profiles';

/**
 * A scenario file (YAML or JSON): the adapter and the virtual devices with their stored records.
 * Packets are hex strings of the characteristic value (byte-exact GSS layouts).
 */
const hex = z
  .string()
  .transform((s) => s.replace(/\s+/g, ''))
  .refine((s) => /^([0-9a-fA-F]{2})*$/.test(s), 'hex bytes')
  .transform((s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16)));

const faults = z
  .object({
    refuseConnect: z
      .object({
        error: z.enum(['Failed', 'InProgress', 'NotReady', 'AuthenticationFailed', 'ConnectionAttemptFailed']),
        message: z.string().optional(),
        times: z.number().int().positive().optional(),
      })
      .optional(),
    connectHang: z.boolean().optional(),
    dropLinkAfter: z.number().int().min(0).optional(),
    garbage: z.union([z.boolean(), z.array(z.number().int().min(0).max(255))]).optional(),
    ignoreTimeWrite: z.boolean().optional(),
    refusePairing: z
      .object({
        error: z
          .enum(['AuthenticationRejected', 'AuthenticationFailed', 'AuthenticationCanceled', 'AuthenticationTimeout'])
          .optional(),
        times: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const common = {
  address: z.string().regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/),
  addressType: z.enum(['public', 'random']).optional(),
  name: z.string().optional(),
  rssi: z.number().int().min(-127).max(20).optional(),
  paired: z.boolean().optional(),
  /** characteristics refused (NotPermitted "Not paired") until Device1.Pair */
  requiresBonding: z.boolean().optional(),
  utcOffsetMinutes: z.number().int().optional(),
  /** device clock error in ms (negative: behind) */
  clockOffsetMs: z.number().int().optional(),
  manufacturer: z.string().optional(),
  model: z.string().optional(),
  serial: z.string().optional(),
  battery: z.number().int().min(0).max(100).optional(),
  recordIntervalMs: z.number().int().min(0).optional(),
  resendAll: z.boolean().optional(),
  faults: faults.optional(),
};

const bpReading = z
  .object({
    systolic: z.number(),
    diastolic: z.number(),
    map: z.number().optional(),
    pulse: z.number().optional(),
    userId: z.number().int().min(0).max(255).optional(),
    status: z.number().int().min(0).max(0xffff).optional(),
    /** device-local time, e.g. 2024-06-15T17:17:27; default: the device clock when loaded */
    time: z
      .string()
      .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
      .optional(),
  })
  .strict();

export const scenarioSchema = z
  .object({
    adapter: z
      .object({
        address: z.string().optional(),
        name: z.string().optional(),
        discoveryDelayMs: z.number().int().min(0).optional(),
        advertiseIntervalMs: z.number().int().min(0).optional(),
        connectDelayMs: z.number().int().min(0).optional(),
      })
      .strict()
      .optional(),
    devices: z.array(
      z.discriminatedUnion('kind', [
        z
          .object({
            kind: z.literal('bp-cuff'),
            ...common,
            readings: z.array(bpReading).default([]),
            packets: z.array(hex).default([]),
          })
          .strict(),
        z
          .object({
            kind: z.literal('weight-scale'),
            ...common,
            users: z.array(z.number().int()).optional(),
            packets: z.array(hex).default([]),
          })
          .strict(),
        z.object({ kind: z.literal('thermometer'), ...common, packets: z.array(hex).default([]) }).strict(),
        z.object({ kind: z.literal('oximeter'), ...common, packets: z.array(hex).default([]) }).strict(),
        z.object({ kind: z.literal('activity-tracker'), ...common, packets: z.array(hex).default([]) }).strict(),
        z
          .object({
            kind: z.literal('glucose-meter'),
            ...common,
            records: z.array(z.object({ measurement: hex, context: hex.optional() }).strict()).default([]),
          })
          .strict(),
        z
          .object({
            kind: z.literal('advertising-scale'),
            ...common,
            serviceDataUuid: z.string().default('181d'),
            serviceData: hex.optional(),
          })
          .strict(),
      ]),
    ),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

export function buildPeripherals(input: ScenarioInput): { peripherals: VirtualPeripheral[]; adapter: AdapterOptions } {
  const s = scenarioSchema.parse(input);
  const peripherals = s.devices.map((d): VirtualPeripheral => {
    const { kind, faults: f, ...rest } = d;
    const opts: DeviceOptions = rest;
    let p: VirtualPeripheral;
    switch (d.kind) {
      case 'bp-cuff': {
        const cuff = new BloodPressureCuff(opts);
        for (const r of d.readings) cuff.addReading({ ...r, time: r.time ? new Date(`${r.time}Z`) : undefined });
        for (const b of d.packets) cuff.addPacket(b);
        p = cuff;
        break;
      }
      case 'weight-scale':
      case 'thermometer':
      case 'oximeter':
      case 'activity-tracker': {
        const dev =
          kind === 'weight-scale'
            ? new WeightScale({ ...opts, ...(d.users ? { users: d.users } : {}) })
            : kind === 'thermometer'
              ? new Thermometer(opts)
              : kind === 'oximeter'
                ? new Oximeter(opts)
                : new ActivityTracker(opts);
        for (const b of d.packets) dev.addPacket(b);
        p = dev;
        break;
      }
      case 'glucose-meter': {
        const g = new GlucoseMeter(opts);
        for (const r of d.records) g.addRecord(r.measurement, r.context);
        p = g;
        break;
      }
      case 'advertising-scale':
        p = new AdvertisingScale({
          ...rest,
          serviceDataUuid: d.serviceDataUuid,
          ...(d.serviceData ? { initial: d.serviceData } : {}),
        });
        break;
    }
    if (f) p.fault(f);
    return p;
  });
  return { peripherals, adapter: s.adapter ?? {} };
}

export async function loadScenario(
  path: string,
): Promise<{ peripherals: VirtualPeripheral[]; adapter: AdapterOptions }> {
  const text = await readFile(path, 'utf8');
  const data: unknown = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  return buildPeripherals(data as ScenarioInput);
}
