import { z } from 'zod';
import { bleAddressSchema, gatewayIdSchema } from '../../contract';
import { isKnownTimeZone, systemTimeZone } from '../../drivers/common/zone-offset';

/**
 * Gateway configuration. The patient never edits it: it is written once at enrollment (gateway
 * id, hub URL, credential) and everything else has a default. One schema: types, validation, docs.
 */
export const gatewayConfigSchema = z
  .object({
    gatewayId: gatewayIdSchema.describe('Gateway id issued at enrollment (also its MQTT username and client id)'),
    dataDir: z
      .string()
      .min(1)
      .default('/var/lib/vigil-gateway')
      .describe('Folder of the durable reading buffer (SQLite)'),
    timeZone: z
      .string()
      // the system's tz database, not Intl (its zone data costs the box ~8 MiB): zone-offset.ts
      .refine((tz) => isKnownTimeZone(tz), 'unknown IANA time zone')
      .default(systemTimeZone())
      .describe('Time zone of the household: device clocks keep local time without a zone'),
    mqtt: z
      .object({
        url: z
          .string()
          .regex(/^mqtts?:\/\/.+/, 'mqtt:// or mqtts:// URL')
          .describe('Hub broker URL'),
        password: z.string().min(1).describe('Gateway credential issued at enrollment'),
        /** PEM file of the only CA trusted for mqtts:// (pinned: the system CA store is not used) */
        caFile: z.string().min(1).optional().describe('Pinned CA certificate (PEM) for mqtts://'),
        keepaliveS: z.number().int().min(5).max(600).default(30),
        batchSize: z.number().int().min(1).max(500).default(200).describe('Readings per published batch'),
        /** a batch not receipted within this time is sent again (same reading ids: the hub dedups) */
        receiptTimeoutMs: z.number().int().min(100).default(30_000),
        /** the receipt timeout doubles at each re-send of the same readings, up to this */
        receiptTimeoutMaxMs: z.number().int().min(100).default(600_000),
        maxInFlightBatches: z.number().int().min(1).max(64).default(4),
        heartbeatIntervalMs: z.number().int().min(1000).default(60_000),
      })
      .strict(),
    ble: z
      .object({
        backend: z
          .enum(['bluez', 'noble'])
          .default('bluez')
          .describe(
            'bluez: node-ble over D-Bus (Linux), supported; noble: HCI, experimental (logs BLE_BACKEND_EXPERIMENTAL)',
          ),
        adapter: z
          .string()
          .regex(/^(hci\d+|([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2})$/, 'hciN, or the adapter address AA:BB:CC:DD:EE:FF')
          .optional()
          .describe('Adapter by address (stable across re-plugs) or name; default: the first adapter BlueZ lists'),
        connectTimeoutMs: z.number().int().min(1000).default(15_000),
        /** a connected device that sent nothing for this long is disconnected (saves its battery) */
        idleDisconnectMs: z.number().int().min(200).default(5_000),
        backoffInitialMs: z.number().int().min(10).default(2_000),
        backoffMaxMs: z.number().int().min(100).default(300_000),
        /** after a good session the device is left alone this long (it keeps advertising) */
        cooldownMs: z.number().int().min(0).default(20_000),
        /** sessions at once; connects are one at a time with discovery paused */
        maxSessions: z.number().int().min(1).max(8).default(3),
        /** a device whose last advertisement is older than this is not connected to (it sleeps again) */
        advertFreshMs: z.number().int().min(500).default(10_000),
        /** connection attempts while the advertisement is fresh */
        connectAttempts: z.number().int().min(1).max(10).default(3),
        /** pause after services are resolved, before the first GATT request */
        settleMs: z.number().int().min(0).max(5_000).default(250),
        /** the radio supervisor gives up (and the process exits non-zero) after this long without a radio */
        radioRecoveryDeadlineMs: z.number().int().min(1_000).default(120_000),
        /** how long the pairing agent waits for a passkey relayed from the hub (SMP times out at 30 s) */
        passkeyTimeoutMs: z.number().int().min(1_000).max(29_000).default(25_000),
      })
      .strict()
      .default({
        backend: 'bluez',
        connectTimeoutMs: 15_000,
        idleDisconnectMs: 5_000,
        backoffInitialMs: 2_000,
        backoffMaxMs: 300_000,
        cooldownMs: 20_000,
        maxSessions: 3,
        advertFreshMs: 10_000,
        connectAttempts: 3,
        settleMs: 250,
        radioRecoveryDeadlineMs: 120_000,
        passkeyTimeoutMs: 25_000,
      }),
    devices: z
      .object({
        /** devices paired to this box; every other device is ignored (a neighbour's scale never reaches a record) */
        allow: z.array(bleAddressSchema).default([]),
        /** folder of integrator drivers loaded beside the built-in ones */
        driversFolder: z.string().optional(),
      })
      .strict()
      .default({ allow: [] }),
    pairing: z
      .object({
        /** a pairing window open until this instant (the hub opens one through the retained config topic) */
        openUntil: z.iso.datetime({ offset: false }).optional(),
        /** during a window, only devices heard at least this strongly are paired (the patient's device is next to the box) */
        minRssi: z.number().int().min(-127).max(20).default(-80),
        /**
         * passkey entry: the six digits a device displays while pairing, relayed from the hub
         * (the nurse types what the patient reads from the screen); used once, until `until`
         */
        passkey: z
          .object({
            address: bleAddressSchema,
            passkey: z.string().regex(/^\d{6}$/, 'six digits'),
            until: z.iso.datetime({ offset: false }),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ minRssi: -80 }),
    buffer: z
      .object({
        /** readings kept at most; policy (README "Buffer policy"): alarm at alarmRatio, then the oldest are dropped */
        maxReadings: z.number().int().min(10).default(500_000),
        /** readings older than this (queued time) are dropped: a reading a month old is no longer actionable */
        maxAgeDays: z.number().min(1).default(60),
        /** fraction of maxReadings at which the heartbeat raises QUEUE_NEAR_CAPACITY */
        alarmRatio: z.number().gt(0).lt(1).default(0.8),
        /** SQLite max_page_count (4 KiB pages); tests use it to simulate a full disk */
        maxPages: z.number().int().min(16).optional(),
      })
      .strict()
      .default({ maxReadings: 500_000, maxAgeDays: 60, alarmRatio: 0.8 }),
    enrollment: z
      .object({
        /** hub HTTP base URL the code is exchanged at */
        hubUrl: z.url(),
        /** the code printed on the box */
        code: z.string().regex(/^[A-Z0-9-]{8,40}$/, 'enrollment code: upper-case letters, digits and dashes'),
      })
      .strict()
      .optional(),
    update: z
      .object({
        /** where releases are fetched from (with the box's credential); default: enrollment.hubUrl */
        hubUrl: z.url().optional().describe('Hub HTTP(S) base URL for over-the-air releases'),
        /** the release public key pinned on the box: only releases it verifies are run */
        publicKeyFile: z.string().min(1).default('/etc/vigil/release-public.pem'),
      })
      .strict()
      .default({ publicKeyFile: '/etc/vigil/release-public.pem' }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    insecure: z
      .boolean()
      .default(false)
      .describe('Allow mqtt:// and http:// to a hub that is not on this machine (no TLS): test benches only'),
  })
  .strict()
  .superRefine((c, ctx) => {
    // TLS by default (docs/security.md "TLS"): health data never crosses a network in clear
    if (c.insecure) return;
    if (clearOffHost(c.mqtt.url, 'mqtt:'))
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', 'url'],
        message: 'mqtt:// to another host sends health data in clear: use mqtts:// (with mqtt.caFile), or set insecure',
      });
    if (c.enrollment && clearOffHost(c.enrollment.hubUrl, 'http:'))
      ctx.addIssue({
        code: 'custom',
        path: ['enrollment', 'hubUrl'],
        message: 'http:// to another host sends the enrollment code in clear: use https://, or set insecure',
      });
    if (c.update.hubUrl && clearOffHost(c.update.hubUrl, 'http:'))
      ctx.addIssue({
        code: 'custom',
        path: ['update', 'hubUrl'],
        message: 'http:// to another host sends the box credential in clear: use https://, or set insecure',
      });
  });

/** A clear-text URL (`scheme`) to a host other than this machine. */
function clearOffHost(raw: string, scheme: 'mqtt:' | 'http:'): boolean {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return u.protocol === scheme && !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
