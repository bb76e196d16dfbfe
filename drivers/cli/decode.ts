import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { builtinRegistry } from '../builtin';
import { checkVectorFile } from '../sdk/conformance';
import type { Advertisement } from '../sdk/definition';
import { loadDriversFromFolder } from '../sdk/loader';
import type { DriverRegistry } from '../sdk/registry';
import { normalizeUuid } from '../sdk/uuid';
import { vectorFileSchema } from '../sdk/vectors';

/**
 * Decode command for integrators: `npm run -s decode -- <characteristic> <hex>`.
 * Prints one JSON object on stdout; an undecodable packet exits 1 with a one-line reason on stderr.
 * `--advert ...` decodes an advertisement; `--vectors <file> [--drivers <folder>]` checks a
 * vector file as the conformance test does, with the integrator drivers of a folder loaded.
 */
export interface DecodeCliOutput {
  characteristic: string;
  driver: string;
  /** the packet's time stamp as the device sent it (local, no zone), when it has one */
  deviceTime?: string;
  /** union of the measurement flags */
  flags?: string[];
  measurements: unknown[];
  rejected: unknown[];
  info?: Record<string, unknown>;
}

type CliResult = { code: number; stdout?: string; stderr?: string };

const ADVERT_USAGE =
  'usage: npm run -s decode -- --advert [--service-data <uuid>=<hex>]... [--manufacturer <company id, decimal or 0x>=<hex>]... [--uuid <service uuid>]... [--name <local name>]';

const hexBytes = (h: string): Uint8Array | undefined => {
  const hex = h.replace(/[\s:-]/g, '').replace(/^0x/i, '');
  return /^([0-9a-fA-F]{2})*$/.test(hex) ? Uint8Array.from(Buffer.from(hex, 'hex')) : undefined;
};

/**
 * `--advert`: an advertisement as BlueZ reports it (service data, manufacturer data, service
 * UUIDs, name), matched against the drivers as the gateway matches it, and decoded by the
 * broadcast driver that wins (Mi scales, Theengs-style devices).
 */
function runDecodeAdvert(args: readonly string[]): CliResult {
  const adv: Advertisement = { address: '00:00:00:00:00:00', serviceUuids: [], serviceData: {}, manufacturerData: {} };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if (value === undefined) return { code: 2, stderr: ADVERT_USAGE };
    i++;
    try {
      if (flag === '--name') adv.name = value;
      else if (flag === '--uuid') adv.serviceUuids.push(normalizeUuid(value));
      else if (flag === '--service-data' || flag === '--manufacturer') {
        const [key = '', hex = ''] = value.split('=');
        const bytes = hexBytes(hex);
        if (!bytes) return { code: 2, stderr: `not an even-length hex string: ${hex}` };
        if (flag === '--service-data') adv.serviceData[normalizeUuid(key)] = bytes;
        else {
          const id = Number(key);
          if (!Number.isInteger(id) || id < 0 || id > 0xffff) return { code: 2, stderr: `not a company id: ${key}` };
          adv.manufacturerData[id] = bytes;
        }
      } else return { code: 2, stderr: ADVERT_USAGE };
    } catch {
      return { code: 2, stderr: `not a UUID: ${value}` };
    }
  }
  const registry = builtinRegistry();
  const entry = registry.match(adv);
  if (!entry) return { code: 1, stderr: 'UNSUPPORTED: no driver matches this advertisement' };
  if (entry.definition.linkMode !== 'broadcast')
    return {
      code: 0,
      stdout: JSON.stringify({ driver: entry.definition.id, linkMode: 'connect', measurements: [], rejected: [] }),
    };
  const out = registry.decodeAdvertisement(entry.definition.id, adv);
  if (!out.ok)
    return { code: 1, stderr: out.message.startsWith(out.code) ? out.message : `${out.code}: ${out.message}` };
  return {
    code: 0,
    stdout: JSON.stringify({
      driver: entry.definition.id,
      linkMode: 'broadcast',
      measurements: out.result.measurements,
      rejected: out.result.rejected,
      ...(out.result.info ? { info: out.result.info } : {}),
    }),
  };
}

const VECTORS_USAGE = 'usage: npm run -s decode -- --vectors <file.vectors.json> [--drivers <folder>]';

/**
 * `--vectors`: every vector of the file checked against the built-in drivers plus, with
 * `--drivers`, the integrator drivers of a folder (loaded as the gateway loads
 * devices.driversFolder). Prints one JSON verdict per vector and a summary; exit 1 if any fails.
 */
export async function runDecodeVectors(args: readonly string[]): Promise<CliResult> {
  let file: string | undefined;
  let folder: string | undefined;
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1];
    if (value === undefined) return { code: 2, stderr: VECTORS_USAGE };
    if (args[i] === '--vectors') file = value;
    else if (args[i] === '--drivers') folder = value;
    else return { code: 2, stderr: VECTORS_USAGE };
  }
  if (!file) return { code: 2, stderr: VECTORS_USAGE };
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return { code: 1, stderr: `VECTORS_UNREADABLE: ${file}: ${(e as Error).message}` };
  }
  const vf = vectorFileSchema.safeParse(data);
  if (!vf.success)
    return { code: 1, stderr: `VECTORS_INVALID: ${file}: ${z.prettifyError(vf.error).replace(/\n/g, '; ')}` };
  let registry: DriverRegistry = builtinRegistry();
  if (folder) {
    const loaded = await loadDriversFromFolder(folder, registry);
    if (loaded.errors.length)
      return { code: 1, stderr: loaded.errors.map((e) => `${e.code}: ${e.message}`).join('; ') };
    registry = loaded.registry;
  }
  const verdicts = checkVectorFile(registry, vf.data);
  const failed = verdicts.filter((v) => !v.ok).length;
  const lines = [...verdicts, { driver: vf.data.driver, vectors: verdicts.length, failed }].map((v) =>
    JSON.stringify(v),
  );
  return {
    code: failed ? 1 : 0,
    stdout: lines.join('\n'),
    ...(failed ? { stderr: `VECTORS_FAILED: ${failed} of ${verdicts.length} vector(s) failed` } : {}),
  };
}

export function runDecode(args: readonly string[]): CliResult {
  if (args[0] === '--advert') return runDecodeAdvert(args.slice(1));
  const [characteristic, ...hexParts] = args;
  if (!characteristic || hexParts.length === 0)
    return { code: 2, stderr: 'usage: npm run -s decode -- <characteristic, e.g. 2a35> <hex bytes>' };
  let uuid: string;
  try {
    uuid = normalizeUuid(characteristic);
  } catch {
    return { code: 2, stderr: `not a characteristic UUID: ${characteristic}` };
  }
  const hex = hexParts
    .join('')
    .replace(/[\s:-]/g, '')
    .replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex))
    return { code: 2, stderr: `not an even-length hex string: ${hexParts.join(' ')}` };
  const registry = builtinRegistry();
  const entry = registry.forCharacteristic(uuid);
  if (!entry) return { code: 1, stderr: `UNSUPPORTED: no driver declares characteristic ${uuid}` };
  const out = registry.decode(entry.definition.id, uuid, Uint8Array.from(Buffer.from(hex, 'hex')), 'cli');
  if (!out.ok)
    return { code: 1, stderr: out.message.startsWith(out.code) ? out.message : `${out.code}: ${out.message}` };
  const ms = out.result.measurements;
  const times = [...new Set(ms.map((m) => m.deviceTime).filter((t) => t !== undefined))];
  const flags = [...new Set(ms.flatMap((m) => m.flags ?? []))];
  const result: DecodeCliOutput = {
    characteristic: uuid,
    driver: entry.definition.id,
    ...(times.length === 1 ? { deviceTime: times[0] } : {}),
    ...(flags.length ? { flags } : {}),
    measurements: ms,
    rejected: out.result.rejected,
  };
  if (out.result.info) result.info = out.result.info;
  return { code: 0, stdout: JSON.stringify(result) };
}

const isMain =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
if (isMain) {
  const args = process.argv.slice(2);
  const r = args.includes('--vectors') ? await runDecodeVectors(args) : runDecode(args);
  if (r.stdout) process.stdout.write(`${r.stdout}\n`);
  if (r.stderr) process.stderr.write(`${r.stderr.split('\n')[0]}\n`);
  process.exitCode = r.code;
}
