import { closeSync, openSync, writeSync } from 'node:fs';
import type { Advertisement } from '../../drivers/sdk/definition';
import { normalizeUuid } from '../../drivers/sdk/uuid';
import type { AgentPolicy } from '../ble/pairing-agent';
import type { BleConnection, BleTransport, RadioEvent } from '../ble/transport';
import type { Pseudonymizer } from './pseudonym';
import { newHeader, toHex, traceLine, type TraceRecordInput } from './trace-format';

/**
 * Characteristics whose values are secrets and are never written to a trace: the User Data
 * Service control point carries the user's consent code (GATT Specification Supplement, User
 * Control Point 0x2A9F: Register New User / Consent take a 0-9999 code).
 */
export const ALWAYS_REDACTED = ['2a9f'];

export interface TraceSink {
  record(r: TraceRecordInput): void;
  close(): void;
}

/** Appends one line per record, synchronously: a trace cut by a crash keeps what happened before it. */
export function traceFileSink(path: string, note?: string): TraceSink {
  const fd = openSync(path, 'wx', 0o600);
  writeSync(fd, traceLine(newHeader('gateway', note)) + '\n');
  let open = true;
  return {
    record(r) {
      if (open) writeSync(fd, JSON.stringify(r) + '\n');
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

export interface TracingOptions {
  sink: TraceSink;
  pseudonyms: Pseudonymizer;
  /** only these devices (real addresses) are traced; default: every device heard */
  devices?: readonly string[];
  /** more characteristics whose values are secret (added to ALWAYS_REDACTED) */
  redact?: readonly string[];
  /** identical advertisements of one device are written at most this often (0: every report) */
  advertisementRepeatMs?: number;
  now?: () => number;
}

/**
 * A BleTransport that records what passes through another one: advertisements, connects, reads,
 * writes, subscriptions and the values notified, as trace records (gateway/capture/trace-format.ts).
 * It changes nothing of what the gateway sees: every call and callback is passed on unchanged, a
 * failure of the inner transport is recorded and rethrown. Pairing is recorded without its
 * passkey (the agent, not the transport, handles codes).
 */
export class TracingTransport implements BleTransport {
  readonly backend: BleTransport['backend'];
  pair?: BleTransport['pair'];
  isBonded?: BleTransport['isBonded'];
  setPairingAgent?: (policy: AgentPolicy) => void;
  onRadioEvent?: (listener: (e: RadioEvent) => void) => void;
  pauseDiscovery?: () => Promise<void>;
  resumeDiscovery?: () => Promise<void>;

  private readonly started: number;
  private readonly now: () => number;
  private readonly only: Set<string> | undefined;
  private readonly secret: Set<string>;
  private readonly lastAdvert = new Map<string, { key: string; at: number }>();

  constructor(
    private readonly inner: BleTransport,
    private readonly opts: TracingOptions,
  ) {
    this.backend = inner.backend;
    this.now = opts.now ?? Date.now;
    this.started = this.now();
    this.only = opts.devices ? new Set(opts.devices.map((a) => a.toUpperCase())) : undefined;
    this.secret = new Set([...ALWAYS_REDACTED, ...(opts.redact ?? []).map(normalizeUuid)]);
    const pair = inner.pair?.bind(inner);
    if (pair)
      this.pair = async (address, o) => {
        try {
          await pair(address, o);
          this.emit(address, { type: 'pair' });
        } catch (e) {
          this.emit(address, { type: 'pair', error: codeOf(e) });
          throw e;
        }
      };
    if (inner.isBonded) this.isBonded = inner.isBonded.bind(inner);
    if (inner.setPairingAgent) this.setPairingAgent = inner.setPairingAgent.bind(inner);
    if (inner.onRadioEvent) this.onRadioEvent = inner.onRadioEvent.bind(inner);
    if (inner.pauseDiscovery) this.pauseDiscovery = inner.pauseDiscovery.bind(inner);
    if (inner.resumeDiscovery) this.resumeDiscovery = inner.resumeDiscovery.bind(inner);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async stop(): Promise<void> {
    try {
      await this.inner.stop();
    } finally {
      this.opts.sink.close();
    }
  }

  adapterState(): ReturnType<BleTransport['adapterState']> {
    return this.inner.adapterState();
  }

  startScan(onAdvertisement: (adv: Advertisement) => void): Promise<void> {
    return this.inner.startScan((adv) => {
      this.advertisement(adv);
      onAdvertisement(adv);
    });
  }

  stopScan(): Promise<void> {
    return this.inner.stopScan();
  }

  async connect(address: string, opts?: { timeoutMs?: number }): Promise<BleConnection> {
    let conn: BleConnection;
    try {
      conn = await this.inner.connect(address, opts);
    } catch (e) {
      this.emit(address, { type: 'connect', error: codeOf(e) });
      throw e;
    }
    this.emit(address, { type: 'connect' });
    return this.traced(conn);
  }

  private traced(conn: BleConnection): BleConnection {
    const address = conn.address;
    let ended = false;
    const ended1 = () => {
      if (ended) return;
      ended = true;
      this.emit(address, { type: 'disconnect' });
    };
    conn.onDisconnect(ended1);
    const at = (service: string, characteristic: string) => ({
      service: normalizeUuid(service),
      characteristic: normalizeUuid(characteristic),
    });
    const value = (characteristic: string, v: Uint8Array) =>
      this.secret.has(normalizeUuid(characteristic)) ? { value: '', redacted: v.length } : { value: toHex(v) };
    return {
      address,
      has: async (service, characteristic) => {
        const present = await conn.has(service, characteristic);
        const c = at(service, characteristic);
        this.emit(address, { type: 'characteristic', ...c, present });
        return present;
      },
      read: async (service, characteristic) => {
        const c = at(service, characteristic);
        try {
          const v = await conn.read(service, characteristic);
          this.emit(address, { type: 'read', ...c, ...value(characteristic, v) });
          return v;
        } catch (e) {
          this.emit(address, { type: 'read', ...c, error: codeOf(e) });
          throw e;
        }
      },
      write: async (service, characteristic, v) => {
        const c = at(service, characteristic);
        try {
          await conn.write(service, characteristic, v);
          this.emit(address, { type: 'write', ...c, ...value(characteristic, v) });
        } catch (e) {
          this.emit(address, { type: 'write', ...c, ...value(characteristic, v), error: codeOf(e) });
          throw e;
        }
      },
      subscribe: async (service, characteristic, onValue) => {
        const c = at(service, characteristic);
        try {
          const unsubscribe = await conn.subscribe(service, characteristic, (v) => {
            this.emit(address, { type: 'notify', ...c, ...value(characteristic, v) });
            onValue(v);
          });
          this.emit(address, { type: 'subscribe', ...c });
          return async () => {
            this.emit(address, { type: 'unsubscribe', ...c });
            await unsubscribe();
          };
        } catch (e) {
          this.emit(address, { type: 'subscribe', ...c, error: codeOf(e) });
          throw e;
        }
      },
      onDisconnect: (listener) => conn.onDisconnect(listener),
      disconnect: () => conn.disconnect(),
    };
  }

  private advertisement(adv: Advertisement): void {
    if (!this.traces(adv.address)) return;
    const record = {
      type: 'advertisement' as const,
      ...(adv.name !== undefined ? { name: adv.name } : {}),
      ...(adv.rssi !== undefined ? { rssi: adv.rssi } : {}),
      serviceUuids: adv.serviceUuids,
      serviceData: Object.fromEntries(Object.entries(adv.serviceData).map(([k, v]) => [k, toHex(v)])),
      manufacturerData: Object.fromEntries(Object.entries(adv.manufacturerData).map(([k, v]) => [k, toHex(v)])),
    };
    // BlueZ reports every advertising interval (DuplicateData): keep changes, and a repeat now and then
    const key = JSON.stringify({ ...record, rssi: undefined });
    const now = this.now();
    const last = this.lastAdvert.get(adv.address);
    const every = this.opts.advertisementRepeatMs ?? 5_000;
    if (last && last.key === key && now - last.at < every) return;
    this.lastAdvert.set(adv.address, { key, at: now });
    this.emit(adv.address, record);
  }

  private traces(address: string): boolean {
    return !this.only || this.only.has(address.toUpperCase());
  }

  private emit(address: string, r: DistributiveOmit<TraceRecordInput, 'device' | 't'>): void {
    if (!this.traces(address)) return;
    const record: TraceRecordInput = {
      ...r,
      device: this.opts.pseudonyms.address(address),
      t: Math.max(0, this.now() - this.started),
    };
    this.opts.sink.record(record);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function codeOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'FAILED';
}
