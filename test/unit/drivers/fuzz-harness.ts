import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlausible } from '../../../contract';
import { builtinRegistry } from '../../../drivers/builtin';
import type { Advertisement } from '../../../drivers/sdk/definition';
import type { DecodeOutcome, DriverRegistry, LoadedDriver } from '../../../drivers/sdk/registry';

/**
 * Property: random bytes fed to any decoder give either readings within their metric's range
 * (declared by the driver) or a DecodeError with a stable code, never anything else
 * (DRIVER_FAILURE = the decoder threw something that is not a DecodeError).
 * Inputs are generated in batches to keep fast-check's per-run overhead low:
 * RUNS x BATCH = 100 000 inputs per decoder (FUZZ_INPUTS overrides).
 */
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 100_000);
const BATCH = 100;
const RUNS = Math.ceil(INPUTS / BATCH);
/**
 * Shared pieces (Battery, Current Time, DIS) are the same decoder in every driver: fuzzed once.
 * The six DIS strings (2a29, 2a24, 2a25, 2a27, 2a26, 2a28) share one string decoder: 2a29 stands for them.
 */
const SHARED = new Set(['2a19', '2a2b', '2a29', '2a23', '2a50']);
const SAME_AS_2A29 = new Set(['2a24', '2a25', '2a27', '2a26', '2a28']);

const registry = builtinRegistry();

/**
 * Packets of 0..32 bytes (the longest flag combination, BCS, is 30 bytes): half biased to short
 * packets (where truncation logic lives), half spread evenly up to 32 bytes (full optional fields).
 */
const packet = fc.oneof(fc.uint8Array({ maxLength: 32 }), fc.uint8Array({ maxLength: 32, size: 'max' }));
const batch = fc.array(packet, { minLength: BATCH, maxLength: BATCH });

function check(out: DecodeOutcome, d: LoadedDriver): void {
  if (!out.ok) {
    if (out.code === 'DRIVER_FAILURE') throw new Error(`decoder threw a non-DecodeError: ${out.message}`);
    return;
  }
  for (const m of out.result.measurements) {
    if (!isPlausible(m.metric, m.value)) throw new Error(`implausible ${m.metric} = ${m.value}`);
    if (!d.definition.metrics.includes(m.metric))
      throw new Error(`${d.definition.id} emitted undeclared metric ${m.metric}`);
  }
}

function decoders(reg: DriverRegistry): Array<{ label: string; d: LoadedDriver; uuid: string }> {
  const seen = new Set<string>();
  const out: Array<{ label: string; d: LoadedDriver; uuid: string }> = [];
  for (const d of reg.drivers) {
    for (const uuid of Object.keys(d.driver.decoders ?? {})) {
      if (SAME_AS_2A29.has(uuid)) continue;
      const key = SHARED.has(uuid) ? uuid : `${d.definition.id}/${uuid}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ label: key, d, uuid });
    }
  }
  return out;
}

type AdvertKind = 'serviceData' | 'manufacturerData' | 'both';
const company = fc.integer({ min: 0, max: 0xffff });
const anyUuid = fc.constantFrom('181d', '181b', '1810', 'fe95', 'fcd2', '0000fff0-0000-1000-8000-00805f9b34fb');

/**
 * Advertisements of every kind a broadcast driver may meet: service data only (its UUIDs, or
 * others), manufacturer data only (its company id, or any), and both at once; with or without a
 * name and service UUID list. Random bytes in every payload.
 */
function advertisement(d: LoadedDriver): fc.Arbitrary<{ kind: AdvertKind; adv: Advertisement }> {
  const m = d.definition.match;
  const uuid = m.serviceDataUuids?.length ? fc.oneof(fc.constantFrom(...m.serviceDataUuids), anyUuid) : anyUuid;
  const id = m.manufacturerId !== undefined ? fc.oneof(fc.constant(m.manufacturerId), company) : company;
  const base = fc.record({
    name: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    serviceUuids: fc.array(anyUuid, { maxLength: 2 }),
  });
  const make = (
    kind: AdvertKind,
    b: { name: string | undefined; serviceUuids: string[] },
    sd: [string, Uint8Array] | undefined,
    md: [number, Uint8Array] | undefined,
  ) => ({
    kind,
    adv: {
      address: 'AA:BB:CC:DD:EE:FF',
      ...(b.name !== undefined ? { name: b.name } : {}),
      serviceUuids: b.serviceUuids,
      serviceData: sd ? { [sd[0]]: sd[1] } : {},
      manufacturerData: md ? { [md[0]]: md[1] } : {},
    },
  });
  return fc.oneof(
    fc.tuple(base, uuid, packet).map(([b, u, p]) => make('serviceData', b, [u, p], undefined)),
    fc.tuple(base, id, packet).map(([b, c, p]) => make('manufacturerData', b, undefined, [c, p])),
    fc.tuple(base, uuid, packet, id, packet).map(([b, u, p, c, q]) => make('both', b, [u, p], [c, q])),
  );
}

/** Registers the fuzz tests of one share of the decoders (split over files so CI runs them in parallel). */
export function fuzzSuite(part: number, parts: number): void {
  describe(`fuzz ${part + 1}/${parts}: ${INPUTS} random packets per decoder`, () => {
    for (const { label, d, uuid } of decoders(registry).filter((_, i) => i % parts === part)) {
      it(label, () => {
        let n = 0;
        fc.assert(
          fc.property(batch, (packets) => {
            for (const bytes of packets) {
              check(registry.decode(d.definition.id, uuid, bytes, 'fuzz'), d);
              n++;
            }
          }),
          { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
        );
        expect(n).toBeGreaterThanOrEqual(INPUTS);
      });
    }

    for (const d of registry.drivers.filter((x) => x.driver.decodeAdvertisement).filter((_, i) => i % parts === part)) {
      it(`${d.definition.id} advertisements: service data, manufacturer data only, both`, () => {
        const kinds = { serviceData: 0, manufacturerData: 0, both: 0 };
        fc.assert(
          fc.property(fc.array(advertisement(d), { minLength: BATCH, maxLength: BATCH }), (advs) => {
            for (const { kind, adv } of advs) {
              // the driver under test, and whatever driver the gateway would pick for it
              check(registry.decodeAdvertisement(d.definition.id, adv), d);
              const matched = registry.match(adv);
              if (matched?.driver.decodeAdvertisement)
                check(registry.decodeAdvertisement(matched.definition.id, adv), matched);
              kinds[kind]++;
            }
          }),
          { numRuns: RUNS },
        );
        const n = kinds.serviceData + kinds.manufacturerData + kinds.both;
        expect(n).toBeGreaterThanOrEqual(INPUTS);
        // every kind was fuzzed, not only the one the driver expects
        for (const k of Object.values(kinds)) expect(k).toBeGreaterThan(INPUTS / 10);
      });
    }

    it('no decoder failure was counted', () => {
      expect(registry.counters.driverFailures).toBe(0);
    });
  });
}
