import { remoteGatewayConfigSchema, type RemoteGatewayConfig } from '../../contract';
import { deepMerge, formatConfigIssues } from '../../contract/config-env';
import { gatewayConfigSchema, type GatewayConfig } from './schema';

/**
 * Remote configuration: the hub publishes a retained JSON object on vigil/v1/<gatewayId>/config,
 * a partial gateway config. It is merged over the running config and validated with the SAME
 * schema as the local file (gateway/config/schema.ts), every problem reported at once. The hub
 * may not change the box's identity or its link to the hub (a bad value there would cut the box
 * off for good): those sections are refused.
 */
export const REMOTE_SETTABLE = [
  'devices',
  'pairing',
  'ble',
  'buffer',
  'mqtt.heartbeatIntervalMs',
  'mqtt.batchSize',
  'mqtt.receiptTimeoutMs',
  'logLevel',
] as const;

export type RemoteConfigResult =
  | { ok: true; config: GatewayConfig; changed: string[] }
  | { ok: false; code: 'REMOTE_CONFIG_INVALID'; message: string };

function leafPaths(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return [prefix];
  const entries = Object.entries(o);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

export function applyRemoteConfig(current: GatewayConfig, payload: Buffer | string): RemoteConfigResult {
  let remote: unknown;
  try {
    remote = JSON.parse(payload.toString());
  } catch {
    return { ok: false, code: 'REMOTE_CONFIG_INVALID', message: 'not JSON' };
  }
  if (typeof remote !== 'object' || remote === null || Array.isArray(remote))
    return { ok: false, code: 'REMOTE_CONFIG_INVALID', message: 'not a JSON object' };
  const paths = leafPaths(remote).filter(Boolean);
  const forbidden = paths.filter((p) => !REMOTE_SETTABLE.some((s) => p === s || p.startsWith(`${s}.`)));
  const parsed = gatewayConfigSchema.safeParse(deepMerge(current, remote));
  const problems = [
    ...forbidden.map((p) => `  ${p}: not settable remotely`),
    ...(parsed.success ? [] : [formatConfigIssues(parsed.error)]),
  ];
  if (problems.length || !parsed.success)
    return { ok: false, code: 'REMOTE_CONFIG_INVALID', message: problems.join('\n') };
  return { ok: true, config: parsed.data, changed: paths };
}

/**
 * Takes the over-the-air offer (`update`, contract/remote-config.ts) out of a config message: it is
 * a command for the update agent, not a setting. `rest` is the config part, as bytes. A message that
 * is not a JSON object is left whole to applyRemoteConfig, which reports it.
 */
export function splitUpdateOffer(
  payload: Buffer,
): { ok: true; offer: RemoteGatewayConfig['update']; rest: Buffer } | { ok: false } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { ok: false };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false };
  const { update, ...rest } = json as Record<string, unknown>;
  const offer = remoteGatewayConfigSchema.shape.update.safeParse(update);
  return { ok: true, offer: offer.success ? offer.data : undefined, rest: Buffer.from(JSON.stringify(rest)) };
}
