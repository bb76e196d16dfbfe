import { Readable } from 'node:stream';
import memoryPersistence, { type AedesMemoryPersistence, type Packet as AedesPacket } from 'aedes-persistence';

/** what the persistence stores as retained: a PUBLISH packet */
type Packet = Extract<AedesPacket, { cmd: 'publish' }>;

/**
 * aedes' in-memory persistence with retained messages also indexed by exact topic.
 *
 * On every SUBSCRIBE, aedes asks the persistence for the retained messages matching each filter
 * (MQTT 3.1.1 section 3.3.1.3; MQTT 5 section 3.3.1.3). aedes-persistence 11 answers by testing
 * every retained topic against the filter, so each subscription costs one test per retained
 * message. A hub holds two retained messages per box (its config, and its status: birth and last
 * will), and every box subscribes to its own exact topics when it connects: a reconnect storm of
 * 10 000 boxes was 10 000 x 20 000 topic tests, 30 s of the hub's CPU in which it filed nothing
 * (bench/README.md, session 10). A filter without wildcards matches exactly one topic, so it is
 * answered here by one lookup; a filter with `+` or `#` still goes through the full scan.
 */
export function retainedIndexedPersistence(): AedesMemoryPersistence {
  const persistence = memoryPersistence();
  const byTopic = new Map<string, Packet>();
  // aedes 1.x calls the promise form, storeRetained(packet); the type declares the callback form
  const store = persistence.storeRetained.bind(persistence) as unknown as (packet: Packet) => Promise<void>;
  const scan = persistence.createRetainedStreamCombi.bind(persistence);

  const storeAndIndex = (packet: Packet): Promise<void> => {
    const stored = store(packet);
    // indexed in the same turn as the persistence's own map (its store runs synchronously), so a
    // SUBSCRIBE handled next sees the same retained message either way; an empty retained payload
    // clears the topic (3.3.1.3), as in the persistence
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return stored;
  };
  persistence.storeRetained = ((packet: Packet, cb?: (err: Error | null) => void) => {
    if (!cb) return storeAndIndex(packet);
    storeAndIndex(packet).then(() => cb(null), cb);
  }) as typeof persistence.storeRetained;

  persistence.createRetainedStreamCombi = (patterns) => {
    if (patterns.some(hasWildcard)) return scan(patterns);
    return Readable.from(exact(byTopic, patterns));
  };

  return persistence;
}

function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

function* exact(byTopic: ReadonlyMap<string, Packet>, patterns: readonly string[]): Generator<Packet> {
  for (const p of patterns) {
    const packet = byTopic.get(p);
    if (packet) yield packet;
  }
}
