import { z } from 'zod';
import { bleAddressSchema } from './ids';

/**
 * hub -> gateway, topic vigil/v1/<gatewayId>/config, QoS 1, retained: the settings the hub holds
 * for one box. It is a partial gateway config: the gateway merges it over its local file and
 * validates the result with its own schema (gateway/config/remote-config.ts), so a box also
 * refuses what this schema would let through. The hub sends only what it manages.
 */
export const remoteGatewayConfigSchema = z
  .object({
    pairing: z
      .object({
        /** the box pairs new devices heard strongly enough until this instant (UTC) */
        openUntil: z.iso.datetime({ offset: false }).optional(),
        /** minimum RSSI (dBm) for a device to be paired during the window */
        minRssi: z.number().int().min(-127).max(20).optional(),
        /** passkey entry: the code the device displays, typed by the nurse; used once, until `until` */
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
      .optional(),
    /**
     * over-the-air update offer (hub/fleet/ota.ts): the box fetches this release from the hub with
     * its own credential, checks it against its pinned release key and switches when no device
     * session runs. It is a command, not a setting: the box takes it out before merging the rest.
     */
    update: z
      .object({
        version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semantic version'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      })
      .strict()
      .optional(),
  })
  .strict();
export type RemoteGatewayConfig = z.infer<typeof remoteGatewayConfigSchema>;
