import { z } from 'zod';
import { driverIdSchema, metricNameSchema, type MetricName } from '../../contract';
import type { DriverSession } from './session';
import { uuidSchema } from './uuid';

/**
 * A driver is data first: how it recognises a device from its advertisement, how it talks to it,
 * what it can do and what it emits. Code (decoders) only where bytes need it.
 * This one schema validates definitions at load, types them, and documents them (drivers/README.md).
 */
export const advertisementMatchSchema = z
  .object({
    /** any of these service UUIDs advertised */
    serviceUuids: z.array(uuidSchema).optional(),
    /** service data present for any of these UUIDs (broadcast scales: 0x181D, 0x181B) */
    serviceDataUuids: z.array(uuidSchema).optional(),
    /** local name matches this regular expression */
    namePattern: z
      .string()
      .refine((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      }, 'invalid regular expression')
      .optional(),
    /** Bluetooth SIG company identifier in the manufacturer specific data */
    manufacturerId: z.number().int().min(0).max(0xffff).optional(),
  })
  .strict()
  .refine(
    (m) => Object.values(m).some((v: unknown) => v !== undefined && (!Array.isArray(v) || v.length > 0)),
    'a match needs at least one condition',
  );

export const characteristicUseSchema = z
  .object({
    service: uuidSchema,
    characteristic: uuidSchema,
    /**
     * how the gateway gets values: notifications, indications, a read on connect, or 'write' for a
     * command-only characteristic (it then needs no decoder)
     */
    access: z.enum(['notify', 'indicate', 'read', 'write']),
    /** false: the gateway carries on when the device lacks it */
    required: z.boolean().default(true),
    /** bytes (hex) the gateway writes to this characteristic once subscribed, e.g. a vendor "start streaming" command */
    writeOnConnect: z
      .string()
      .regex(/^([0-9a-f]{2})+$/, 'lower-case even-length hex')
      .optional(),
  })
  .strict();

export const driverDefinitionSchema = z
  .object({
    id: driverIdSchema,
    vendor: z.string().min(1),
    models: z.array(z.string().min(1)).min(1),
    description: z.string().min(1),
    match: advertisementMatchSchema,
    /** higher wins when several drivers match one advertisement: vendor drivers beat the standard profile */
    priority: z.number().int().min(0).max(100).default(0),
    linkMode: z.enum(['connect', 'broadcast']),
    capabilities: z
      .object({
        timeSync: z.boolean().default(false),
        storedRecords: z.boolean().default(false),
        multiUser: z.boolean().default(false),
        battery: z.boolean().default(false),
      })
      .strict(),
    metrics: z.array(metricNameSchema).min(1),
    characteristics: z.array(characteristicUseSchema).default([]),
    /** declared deviations from the specification, handled by this driver's code */
    quirks: z.array(z.string().regex(/^[a-z0-9_]+$/)).default([]),
    /**
     * 'required': the device only serves its characteristics over an encrypted, bonded link (ATT
     * Insufficient Authentication/Encryption before bonding, Core Vol 3 Part F 3.4.1.1): the gateway
     * bonds it (BlueZ Device1.Pair, Just Works) when it is paired to the box, never outside a
     * pairing window or an explicit pair.
     */
    bonding: z.enum(['required', 'none']).default('none'),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.linkMode === 'connect' && d.characteristics.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['characteristics'],
        message: 'a connect driver declares the characteristics it uses',
      });
    }
  });

export type DriverDefinition = z.infer<typeof driverDefinitionSchema>;
export type DriverDefinitionInput = z.input<typeof driverDefinitionSchema>;
export type AdvertisementMatch = z.infer<typeof advertisementMatchSchema>;

/** One decoded value, in the canonical unit of its metric. */
export interface Measurement {
  metric: MetricName;
  value: number;
  unit: string;
  deviceUnit?: string;
  /** local time as the device sent it, no zone */
  deviceTime?: string;
  sequence?: number;
  userIndex?: number;
  flags?: string[];
}

/** A field that was present but not emitted, with why (special value, implausible, ...). */
export interface RejectedField {
  metric?: MetricName;
  field: string;
  /**
   * SPECIAL_VALUE: IEEE-11073 NaN/NRes/INF or a spec "unsuccessful" value; IMPLAUSIBLE: outside the
   * metric's range; UNKNOWN_TIME: time stamp unset or invalid; QUIRK: dropped by a declared driver
   * quirk; RESERVED: reserved value; DEVICE_FLAGGED: the device itself marks the value invalid,
   * unstable or not a patient reading (control solution, scale not stabilised).
   */
  code: 'SPECIAL_VALUE' | 'IMPLAUSIBLE' | 'UNKNOWN_TIME' | 'QUIRK' | 'RESERVED' | 'DEVICE_FLAGGED';
  reason: string;
  raw?: number | string;
}

export interface DecodeResult {
  measurements: Measurement[];
  rejected: RejectedField[];
  /** non-measurement facts: feature bits, device information, RACP responses */
  info?: Record<string, unknown>;
}

/**
 * Who the device says it is: its advertised local name and, once read, the Device Information
 * strings (DIS 1.1: 0x2A29 Manufacturer Name, 0x2A24 Model Number). The quirk registry
 * (drivers/common/quirk-registry.ts) matches on it.
 */
export interface DeviceIdentity {
  localName?: string;
  manufacturer?: string;
  model?: string;
}

export interface DecodeContext {
  /** e.g. the driver's quirks, or state carried across packets (multi-packet body composition) */
  readonly quirks: readonly string[];
  readonly state: Map<string, unknown>;
  /** what is known of the device so far (advertisement, DIS); empty when decoding a bare packet */
  readonly identity: Readonly<DeviceIdentity>;
}

export type CharacteristicDecoder = (bytes: Uint8Array, ctx: DecodeContext) => DecodeResult;

export interface Advertisement {
  address: string;
  name?: string;
  rssi?: number;
  serviceUuids: string[];
  serviceData: Record<string, Uint8Array>;
  manufacturerData: Record<number, Uint8Array>;
}

export type AdvertisementDecoder = (adv: Advertisement, ctx: DecodeContext) => DecodeResult;

/** A driver: its validated definition plus the code its bytes need. */
export interface Driver {
  definition: DriverDefinitionInput;
  /** keyed by normalised characteristic UUID */
  decoders?: Record<string, CharacteristicDecoder>;
  /** broadcast drivers: decode measurements from advertisement data */
  decodeAdvertisement?: AdvertisementDecoder;
  /** connect drivers: the steps of a connection (default: the standard profiles' DEFAULT_SESSION) */
  session?: DriverSession;
}

export function emptyResult(): DecodeResult {
  return { measurements: [], rejected: [] };
}
