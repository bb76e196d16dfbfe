import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinRegistry } from '../builtin';
import type { Driver } from './definition';
import { DriverLoadError, type DriverRegistry, type LoadedDriver } from './registry';

export interface FolderLoadResult {
  registry: DriverRegistry;
  loaded: LoadedDriver[];
  /** one per rejected module or driver; the load itself never throws */
  errors: DriverLoadError[];
}

const MODULE = /\.(ts|mts|js|mjs)$/;
const SKIP = /(\.d\.ts|\.test\.[cm]?[jt]s|\.spec\.[cm]?[jt]s)$/;

function isDriverLike(v: unknown): v is Driver {
  return typeof v === 'object' && v !== null && 'definition' in v;
}

/**
 * Loads integrator drivers from `dir` (gateway config `devices.driversFolder`, env VIGIL_GATEWAY_DRIVERS_FOLDER): every .ts/.js module whose
 * default export is a Driver or Driver[]. `.ts` needs a TypeScript-aware runtime (tsx, the gateway's).
 * Invalid or colliding drivers are rejected with a DriverLoadError in `errors`, the others registered
 * into `registry` (default: a fresh registry of the built-in drivers). Modules load in name order.
 */
export async function loadDriversFromFolder(
  dir: string,
  registry: DriverRegistry = builtinRegistry(),
): Promise<FolderLoadResult> {
  const result: FolderLoadResult = { registry, loaded: [], errors: [] };
  let files: string[];
  try {
    files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && MODULE.test(e.name) && !SKIP.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (e) {
    result.errors.push(new DriverLoadError('LOAD_FAILED', `cannot read driver folder ${dir}: ${(e as Error).message}`));
    return result;
  }
  for (const name of files) {
    const file = resolve(join(dir, name));
    let exported: unknown;
    try {
      const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
      exported = mod.default;
    } catch (e) {
      result.errors.push(new DriverLoadError('LOAD_FAILED', `${name}: import failed: ${(e as Error).message}`));
      continue;
    }
    const drivers = Array.isArray(exported) ? exported : [exported];
    if (exported === undefined || drivers.length === 0) {
      result.errors.push(
        new DriverLoadError('INVALID_DRIVER', `${name}: no default export (export default a Driver or Driver[])`),
      );
      continue;
    }
    for (const d of drivers) {
      if (!isDriverLike(d)) {
        result.errors.push(
          new DriverLoadError(
            'INVALID_DRIVER',
            `${name}: default export is not a Driver ({ definition, decoders?, decodeAdvertisement? })`,
          ),
        );
        continue;
      }
      try {
        result.loaded.push(registry.register(d, file));
      } catch (e) {
        result.errors.push(
          e instanceof DriverLoadError ? e : new DriverLoadError('INVALID_DRIVER', `${name}: ${(e as Error).message}`),
        );
      }
    }
  }
  return result;
}
