import type { z } from 'zod';
import type { MetricName } from '../../contract';
import type { CharacteristicDecoder, Driver, DriverDefinitionInput, characteristicUseSchema } from './definition';

export type CharacteristicUseInput = z.input<typeof characteristicUseSchema>;
type Capabilities = NonNullable<DriverDefinitionInput['capabilities']>;

/**
 * A reusable piece of a driver (zigbee-herdsman-converters "extend" style): the characteristics it
 * reads, their decoders, the metrics they emit and the capabilities they bring (battery, time sync).
 */
export interface DriverExtension {
  readonly characteristics: readonly CharacteristicUseInput[];
  readonly decoders: Readonly<Record<string, CharacteristicDecoder>>;
  readonly metrics?: readonly MetricName[];
  readonly capabilities?: Partial<Capabilities>;
}

/** Builds a driver from a base and extensions; a characteristic already declared by the base is kept as is. */
export function defineDriver(base: Driver, ...extend: readonly DriverExtension[]): Driver {
  const def = base.definition;
  const characteristics = [...(def.characteristics ?? [])];
  const decoders: Record<string, CharacteristicDecoder> = { ...base.decoders };
  const metrics = [...def.metrics];
  const capabilities: Capabilities = { ...def.capabilities };
  for (const e of extend) {
    for (const c of e.characteristics) {
      if (characteristics.some((x) => x.characteristic === c.characteristic)) continue;
      characteristics.push(c);
      const d = e.decoders[c.characteristic];
      if (d) decoders[c.characteristic] = d;
    }
    for (const m of e.metrics ?? []) if (!metrics.includes(m)) metrics.push(m);
    Object.assign(capabilities, e.capabilities);
  }
  const definition: DriverDefinitionInput = { ...def, characteristics, metrics, capabilities };
  return { ...base, definition, decoders };
}
