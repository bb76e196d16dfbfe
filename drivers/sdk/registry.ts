import { METRICS, isPlausible } from '../../contract';
import {
  driverDefinitionSchema,
  type Advertisement,
  type DecodeContext,
  type DecodeResult,
  type DeviceIdentity,
  type Driver,
  type DriverDefinition,
} from './definition';
import { DecodeError, type DecodeErrorCode } from './errors';
import { STANDARD_STEPS, type DriverSession, type SessionStep } from './session';
import { normalizeUuid } from './uuid';

export class DriverLoadError extends Error {
  constructor(
    readonly code: 'INVALID_DRIVER' | 'DRIVER_COLLISION' | 'LOAD_FAILED',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'DriverLoadError';
  }
}

export interface LoadedDriver {
  definition: DriverDefinition;
  driver: Driver;
  origin: string;
}

export type DecodeOutcome = { ok: true; result: DecodeResult } | { ok: false; code: DecodeErrorCode; message: string };

export interface RegistryCounters {
  decoded: number;
  decodeErrors: number;
  driverFailures: number;
  rejectedFields: number;
}

function matchKey(d: DriverDefinition): string {
  const m = d.match;
  return JSON.stringify([
    [...(m.serviceUuids ?? [])].sort(),
    [...(m.serviceDataUuids ?? [])].sort(),
    m.namePattern ?? null,
    m.manufacturerId ?? null,
    d.priority,
  ]);
}

/** How many conditions of the match the advertisement satisfies; 0 when any condition fails. */
function matchScore(d: DriverDefinition, adv: Advertisement): number {
  const m = d.match;
  let score = 0;
  if (m.serviceUuids?.length) {
    const advertised = new Set(adv.serviceUuids.map(normalizeUuid));
    if (!m.serviceUuids.some((u) => advertised.has(u))) return 0;
    score++;
  }
  if (m.serviceDataUuids?.length) {
    const present = new Set(Object.keys(adv.serviceData).map(normalizeUuid));
    if (!m.serviceDataUuids.some((u) => present.has(u))) return 0;
    score++;
  }
  if (m.namePattern !== undefined) {
    if (adv.name === undefined || !new RegExp(m.namePattern).test(adv.name)) return 0;
    score++;
  }
  if (m.manufacturerId !== undefined) {
    if (!(m.manufacturerId in adv.manufacturerData)) return 0;
    score++;
  }
  return score;
}

/**
 * The set of drivers a gateway knows. Rejects invalid or colliding definitions at load,
 * matches advertisements (highest priority, then most specific, then first registered),
 * and isolates decoders: a driver that throws is counted, never propagated.
 */
export class DriverRegistry {
  private readonly loaded: LoadedDriver[] = [];
  private readonly byId = new Map<string, LoadedDriver>();
  private readonly contexts = new Map<string, DecodeContext>();
  /** per device address (upper case): advertised name and DIS strings, shared by its contexts */
  private readonly identities = new Map<string, DeviceIdentity>();
  readonly counters: RegistryCounters = { decoded: 0, decodeErrors: 0, driverFailures: 0, rejectedFields: 0 };

  register(driver: Driver, origin = 'builtin'): LoadedDriver {
    // plugins are loaded at run time: the static type is a promise, not a guarantee
    const candidate: unknown = driver;
    if (typeof candidate !== 'object' || candidate === null)
      throw new DriverLoadError('INVALID_DRIVER', `driver from ${origin} is not an object`);
    const parsed = driverDefinitionSchema.safeParse(driver.definition);
    if (!parsed.success) {
      const definition: unknown = driver.definition;
      const id =
        typeof definition === 'object' && definition !== null ? (definition as { id?: unknown }).id : undefined;
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new DriverLoadError('INVALID_DRIVER', `driver ${String(id)} from ${origin}: ${issues}`);
    }
    const def = parsed.data;
    const declared = new Set(def.characteristics.filter((c) => c.access !== 'write').map((c) => c.characteristic));
    const uses = def.characteristics.map((c) => c.characteristic);
    const dup = uses.find((u, i) => uses.indexOf(u) !== i);
    if (dup) throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: characteristic ${dup} declared twice`);
    let decoderKeys: string[];
    try {
      decoderKeys = Object.keys(driver.decoders ?? {}).map(normalizeUuid);
    } catch (e) {
      throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: ${(e as Error).message}`);
    }
    for (const [k, fn] of Object.entries(driver.decoders ?? {})) {
      if (typeof fn !== 'function')
        throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: decoder for ${k} is not a function`);
    }
    if (driver.decodeAdvertisement !== undefined && typeof driver.decodeAdvertisement !== 'function') {
      throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: decodeAdvertisement is not a function`);
    }
    for (const uuid of declared) {
      // a dialogue's command and reply channels are read by its steps, not by a decoder
      if (!decoderKeys.includes(uuid) && !driver.session)
        throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: no decoder for declared characteristic ${uuid}`);
    }
    for (const uuid of decoderKeys) {
      if (!declared.has(uuid))
        throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: decoder for undeclared characteristic ${uuid}`);
    }
    if (driver.session !== undefined) {
      const problem = sessionProblem(driver.session);
      if (problem) throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: session ${problem}`);
    }
    if (def.linkMode === 'broadcast' && !driver.decodeAdvertisement) {
      throw new DriverLoadError('INVALID_DRIVER', `driver ${def.id}: broadcast driver without decodeAdvertisement`);
    }
    for (const other of this.loaded) {
      if (other.definition.id === def.id) {
        throw new DriverLoadError(
          'DRIVER_COLLISION',
          `driver id ${def.id} from ${origin} already registered from ${other.origin}`,
        );
      }
      if (matchKey(other.definition) === matchKey(def)) {
        throw new DriverLoadError(
          'DRIVER_COLLISION',
          `driver ${def.id} from ${origin} matches exactly like ${other.definition.id}; raise its priority or narrow its match`,
        );
      }
    }
    const decoders = Object.fromEntries(Object.entries(driver.decoders ?? {}).map(([k, v]) => [normalizeUuid(k), v]));
    const entry: LoadedDriver = { definition: def, driver: { ...driver, decoders }, origin };
    this.loaded.push(entry);
    this.byId.set(def.id, entry);
    return entry;
  }

  get drivers(): readonly LoadedDriver[] {
    return this.loaded;
  }

  get(id: string): LoadedDriver | undefined {
    return this.byId.get(id);
  }

  /**
   * The driver that decodes `characteristic` when no advertisement is known (decode CLI, replay):
   * a Bluetooth SIG standard driver declaring it, else any driver declaring it; first registered wins.
   */
  forCharacteristic(characteristic: string): LoadedDriver | undefined {
    const uuid = normalizeUuid(characteristic);
    const declaring = this.loaded.filter((d) => d.driver.decoders?.[uuid] !== undefined);
    return declaring.find((d) => d.definition.vendor === 'Bluetooth SIG') ?? declaring[0];
  }

  match(adv: Advertisement): LoadedDriver | undefined {
    let best: { d: LoadedDriver; score: number } | undefined;
    for (const d of this.loaded) {
      const score = matchScore(d.definition, adv);
      if (score === 0) continue;
      if (
        !best ||
        d.definition.priority > best.d.definition.priority ||
        (d.definition.priority === best.d.definition.priority && score > best.score)
      ) {
        best = { d, score };
      }
    }
    return best?.d;
  }

  /**
   * Records what a device says about itself (advertised local name, DIS manufacturer and model):
   * decoders see it as `ctx.identity`, the quirk registry matches on it. Fields given replace
   * the known ones; absent fields are kept.
   */
  noteIdentity(deviceAddress: string, identity: DeviceIdentity): void {
    const known = this.identityOf(deviceAddress);
    for (const k of ['localName', 'manufacturer', 'model'] as const) {
      const v = identity[k];
      if (typeof v === 'string' && v.length > 0) known[k] = v;
    }
  }

  /** what is known of a device (a live object: later notes show in it) */
  identityOf(deviceAddress: string): DeviceIdentity {
    const key = deviceAddress.toUpperCase();
    let id = this.identities.get(key);
    if (!id) {
      id = {};
      this.identities.set(key, id);
    }
    return id;
  }

  /** Decoding context per driver and device: carries multi-packet state. */
  private contextFor(driverId: string, deviceAddress: string, quirks: readonly string[]): DecodeContext {
    const key = `${driverId}/${deviceAddress}`;
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = { quirks, state: new Map(), identity: this.identityOf(deviceAddress) };
      this.contexts.set(key, ctx);
    }
    return ctx;
  }

  decode(driverId: string, characteristic: string, bytes: Uint8Array, deviceAddress = ''): DecodeOutcome {
    const entry = this.get(driverId);
    if (!entry) return { ok: false, code: 'UNSUPPORTED', message: `no driver ${driverId}` };
    const decoders = entry.driver.decoders;
    let decoder = decoders?.[characteristic];
    if (!decoder) {
      let uuid: string;
      try {
        uuid = normalizeUuid(characteristic);
      } catch (e) {
        return { ok: false, code: 'UNSUPPORTED', message: (e as Error).message };
      }
      decoder = decoders?.[uuid];
    }
    if (!decoder)
      return { ok: false, code: 'UNSUPPORTED', message: `driver ${driverId} has no decoder for ${characteristic}` };
    const out = this.run(() => decoder(bytes, this.contextFor(driverId, deviceAddress, entry.definition.quirks)));
    // Device Information strings (DIS 1.1 3.2, 3.3) complete the device's identity
    const info = out.ok ? out.result.info : undefined;
    if (info && deviceAddress) {
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const manufacturer = str(info.manufacturerName);
      const model = str(info.modelNumber);
      if (manufacturer !== undefined || model !== undefined)
        this.noteIdentity(deviceAddress, {
          ...(manufacturer !== undefined ? { manufacturer } : {}),
          ...(model !== undefined ? { model } : {}),
        });
    }
    return out;
  }

  decodeAdvertisement(driverId: string, adv: Advertisement): DecodeOutcome {
    const entry = this.get(driverId);
    const decoder = entry?.driver.decodeAdvertisement;
    if (!entry || !decoder)
      return { ok: false, code: 'UNSUPPORTED', message: `driver ${driverId} does not decode advertisements` };
    return this.run(() => decoder(adv, this.contextFor(driverId, adv.address, entry.definition.quirks)));
  }

  private run(fn: () => DecodeResult): DecodeOutcome {
    let result: DecodeResult;
    try {
      result = fn();
      if (!isDecodeResult(result)) throw new Error('decoder returned something that is not a DecodeResult');
    } catch (e) {
      if (e instanceof DecodeError) {
        this.counters.decodeErrors++;
        return { ok: false, code: e.code, message: e.message };
      }
      this.counters.driverFailures++;
      return { ok: false, code: 'DRIVER_FAILURE', message: e instanceof Error ? e.message : String(e) };
    }
    const plausible = applyPlausibility(result);
    this.counters.decoded++;
    this.counters.rejectedFields += plausible.rejected.length;
    return { ok: true, result: plausible };
  }
}

function isDecodeResult(r: unknown): r is DecodeResult {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as { measurements?: unknown; rejected?: unknown };
  return (
    Array.isArray(o.measurements) &&
    Array.isArray(o.rejected) &&
    o.measurements.every((m) => typeof m === 'object' && m !== null)
  );
}

/** Moves physiologically impossible values (and unknown metrics) out of the measurements, with a reason. */
/** why a driver's session cannot run, or undefined */
function sessionProblem(session: DriverSession): string | undefined {
  if (typeof session !== 'object' || !Array.isArray(session.steps)) return 'has no steps array';
  const names = new Set<string>();
  for (const s of session.steps as unknown[]) {
    if (typeof s === 'string') {
      if (!(STANDARD_STEPS as readonly string[]).includes(s)) return `names an unknown standard step ${s}`;
      if (names.has(s)) return `declares ${s} twice`;
      names.add(s);
      continue;
    }
    const step = s as Partial<SessionStep> | null;
    if (typeof step?.name !== 'string' || typeof step.run !== 'function') return 'has a step without name or run()';
    if (names.has(step.name)) return `declares ${step.name} twice`;
    names.add(step.name);
  }
  return undefined;
}

export function applyPlausibility(result: DecodeResult): DecodeResult {
  const measurements = [];
  const rejected = [...result.rejected];
  for (const m of result.measurements) {
    if (!Object.hasOwn(METRICS, m.metric)) {
      rejected.push({
        field: m.metric,
        code: 'RESERVED',
        reason: `unknown metric ${m.metric} (not in contract/metrics.ts)`,
      });
      continue;
    }
    if (typeof m.value === 'number' && isPlausible(m.metric, m.value)) measurements.push(m);
    else
      rejected.push({
        metric: m.metric,
        field: m.metric,
        code: 'IMPLAUSIBLE',
        reason: `${m.value} ${m.unit} outside the plausible range`,
        raw: m.value,
      });
  }
  return { ...result, measurements, rejected };
}
