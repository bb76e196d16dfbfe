import { fromHex, type Trace, type TraceRecord } from '../../gateway';
import {
  AttError,
  VirtualPeripheral,
  type CharacteristicFlag,
  type PeripheralLink,
  type ServiceSpec,
} from '../virtual-bluez';

/**
 * A virtual peripheral that answers as the captured device did (docs/capture-and-replay.md):
 *  - its advertisement is the last one captured before the first connection (every captured
 *    advertisement, in turn, for a device that never connected: a broadcast scale)
 *  - its GATT table is every characteristic the trace shows (discovery, or operations)
 *  - reads return the captured values in order (the last one again once they run out)
 *  - a notification or indication is answered to the central action that preceded it in the
 *    capture (a subscription, or a write: RACP, a vendor command): when the central does the
 *    same thing, the device sends what it sent then, once the characteristic is subscribed
 * One script per captured connection; a later connection plays the next one (the last again).
 */
export class TracePeripheral extends VirtualPeripheral {
  /** what the central did, in order: writes and subscriptions (the replay compares them) */
  readonly centralActions: CentralAction[] = [];
  private readonly sessions: SessionScript[];
  private readonly broadcasts: (TraceRecord & { type: 'advertisement' })[];
  private sessionIndex = -1;
  private script: SessionScript | undefined;
  private readonly subscribed = new Set<string>();
  private outbox: Notification[] = [];
  private sending = false;

  constructor(
    trace: Trace,
    readonly device: string,
  ) {
    const own = trace.records.filter((r) => r.device === device);
    const firstConnect = own.findIndex((r) => r.type === 'connect' && !r.error);
    const adverts = own.filter((r): r is TraceRecord & { type: 'advertisement' } => r.type === 'advertisement');
    const before = firstConnect < 0 ? adverts : adverts.filter((a) => own.indexOf(a) < firstConnect);
    const adv = before.at(-1) ?? adverts[0];
    super({
      address: device,
      addressType: 'random',
      ...(adv?.name !== undefined ? { name: adv.name } : {}),
      ...(adv?.rssi !== undefined ? { rssi: adv.rssi } : {}),
      connectable: firstConnect >= 0,
      advertisement: adv ? advertisementData(adv) : {},
    });
    this.broadcasts = firstConnect < 0 ? adverts : [];
    this.sessions = splitSessions(own);
    this.services = gattTable(own, (s, c) => this.handlers(s, c));
  }

  /** broadcast devices: plays the captured advertisements, one every intervalMs */
  playAdvertisements(intervalMs: number): Promise<void> {
    const list = this.broadcasts.slice(1);
    return new Promise((resolve) => {
      const next = () => {
        const a = list.shift();
        if (!a) {
          resolve();
          return;
        }
        this.setAdvertisement({ ...advertisementData(a), ...(a.rssi !== undefined ? { rssi: a.rssi } : {}) });
        setTimeout(next, intervalMs);
      };
      setTimeout(next, intervalMs);
    });
  }

  /** captured notifications that were never sent (the central did not do what prompted them) */
  unsent(): Notification[] {
    const left = this.sessions.flatMap((s) => s.triggers.filter((t) => !t.used).flatMap((t) => t.notifications));
    return [...left, ...this.outbox];
  }

  override onConnected(_link: PeripheralLink): void {
    this.sessionIndex = Math.min(this.sessionIndex + 1, this.sessions.length - 1);
    this.script = this.sessions[this.sessionIndex];
    if (this.script && this.sessionIndex === this.sessions.length - 1 && this.script.played)
      this.script = cloneScript(this.script);
    if (this.script) this.script.played = true;
    this.subscribed.clear();
    this.outbox = [];
    // notifications captured before the central did anything go out once subscribed
    const first = this.script?.triggers.find((t) => t.kind === 'connect');
    if (first) this.release(first);
  }

  override onDisconnected(): void {
    this.subscribed.clear();
    this.outbox = [];
  }

  private handlers(service: string, characteristic: string): Partial<ServiceSpec['characteristics'][number]> {
    const key = `${service}/${characteristic}`;
    return {
      onRead: () => {
        const reads = this.script?.reads.get(key);
        const r = reads && (reads.length > 1 ? reads.shift() : reads[0]);
        if (!r) throw new AttError(0x0a, `no captured read of ${key}`); // Attribute Not Found
        if (r.error) throw new AttError(attCode(r.error));
        return fromHex(r.value ?? '');
      },
      onWrite: (value, link) => {
        this.centralActions.push({ type: 'write', service, characteristic, value: Buffer.from(value).toString('hex') });
        const t = this.findTrigger('write', key, value);
        if (t) {
          this.release(t);
          this.flush(link);
          if (t.error) throw new AttError(attCode(t.error));
        }
      },
      onSubscribe: (link) => {
        this.centralActions.push({ type: 'subscribe', service, characteristic });
        this.subscribed.add(key);
        const t = this.findTrigger('subscribe', key);
        if (t) this.release(t);
        this.flush(link);
      },
      onUnsubscribe: () => {
        this.subscribed.delete(key);
      },
    };
  }

  /** the first unused captured action of this kind on this characteristic: same value, else same opcode, else any */
  private findTrigger(kind: 'write' | 'subscribe', key: string, value?: Uint8Array): Trigger | undefined {
    const open = (this.script?.triggers ?? []).filter((t) => !t.used && t.kind === kind && t.key === key);
    if (kind === 'subscribe' || !value) return open[0];
    const hex = Buffer.from(value).toString('hex');
    return open.find((t) => t.value === hex) ?? open.find((t) => t.value?.slice(0, 2) === hex.slice(0, 2)) ?? open[0];
  }

  private release(t: Trigger): void {
    t.used = true;
    this.outbox.push(...t.notifications);
  }

  /** sends, in captured order, what was released for the subscribed characteristics */
  private flush(link: PeripheralLink): void {
    if (this.sending) return;
    const i = this.outbox.findIndex((n) => this.subscribed.has(n.key));
    if (i < 0) return;
    const [n] = this.outbox.splice(i, 1);
    this.sending = true;
    // a few ms apart, in order, as a device paces its records
    link.later(5, () => {
      this.sending = false;
      if (n) link.notify(n.service, n.characteristic, fromHex(n.value));
      this.flush(link);
    });
  }
}

export interface CentralAction {
  type: 'write' | 'subscribe';
  service: string;
  characteristic: string;
  value?: string;
}

interface Notification {
  key: string;
  service: string;
  characteristic: string;
  value: string;
}

interface Trigger {
  kind: 'connect' | 'write' | 'subscribe';
  key: string;
  value?: string;
  error?: string;
  used: boolean;
  notifications: Notification[];
}

interface SessionScript {
  reads: Map<string, { value?: string; error?: string }[]>;
  triggers: Trigger[];
  played: boolean;
}

const keyOf = (r: { service?: string; characteristic?: string }) => `${r.service ?? ''}/${r.characteristic ?? ''}`;

function splitSessions(own: TraceRecord[]): SessionScript[] {
  const sessions: SessionScript[] = [];
  let s: SessionScript | undefined;
  for (const r of own) {
    if (r.type === 'connect' && !r.error) {
      s = { reads: new Map(), triggers: [{ kind: 'connect', key: '', used: false, notifications: [] }], played: false };
      sessions.push(s);
      continue;
    }
    if (!s || r.type === 'disconnect') {
      if (r.type === 'disconnect') s = undefined;
      continue;
    }
    if (r.type === 'read') {
      const list = s.reads.get(keyOf(r)) ?? [];
      list.push({ ...(r.value !== undefined ? { value: r.value } : {}), ...(r.error ? { error: r.error } : {}) });
      s.reads.set(keyOf(r), list);
    } else if (r.type === 'write' || (r.type === 'subscribe' && !r.error))
      s.triggers.push({
        kind: r.type,
        key: keyOf(r),
        ...(r.type === 'write' ? { value: r.value } : {}),
        ...(r.type === 'write' && r.error ? { error: r.error } : {}),
        used: false,
        notifications: [],
      });
    else if (r.type === 'notify' && !r.redacted)
      s.triggers.at(-1)?.notifications.push({
        key: keyOf(r),
        service: r.service ?? '',
        characteristic: r.characteristic ?? '',
        value: r.value,
      });
  }
  return sessions;
}

function cloneScript(s: SessionScript): SessionScript {
  return {
    reads: new Map([...s.reads].map(([k, v]) => [k, [...v]])),
    triggers: s.triggers.map((t) => ({ ...t, used: false, notifications: [...t.notifications] })),
    played: true,
  };
}

/** the GATT table the trace shows; flags from discovered properties, else from what was done */
function gattTable(
  own: TraceRecord[],
  handlers: (service: string, characteristic: string) => Partial<ServiceSpec['characteristics'][number]>,
): ServiceSpec[] {
  const flags = new Map<string, Set<CharacteristicFlag>>();
  const add = (service: string | undefined, characteristic: string | undefined, ...f: CharacteristicFlag[]) => {
    if (!service || !characteristic) return;
    const k = `${service}/${characteristic}`;
    const set = flags.get(k) ?? new Set();
    f.forEach((x) => set.add(x));
    flags.set(k, set);
  };
  for (const r of own) {
    if (r.type === 'characteristic' && r.present) {
      const props = (r.properties ?? []).filter((p): p is CharacteristicFlag => FLAGS.has(p));
      add(r.service, r.characteristic, ...props);
    } else if (r.type === 'read') add(r.service, r.characteristic, 'read');
    else if (r.type === 'write')
      add(r.service, r.characteristic, r.withResponse === false ? 'write-without-response' : 'write');
    else if (r.type === 'subscribe') add(r.service, r.characteristic, r.indicate ? 'indicate' : 'notify');
    else if (r.type === 'notify') add(r.service, r.characteristic, r.kind === 'indication' ? 'indicate' : 'notify');
  }
  const services = new Map<string, ServiceSpec>();
  for (const [k, f] of flags) {
    const [service = '', characteristic = ''] = k.split('/');
    const s = services.get(service) ?? { uuid: service, characteristics: [] };
    s.characteristics.push({ uuid: characteristic, flags: [...f], ...handlers(service, characteristic) });
    services.set(service, s);
  }
  return [...services.values()];
}

const FLAGS = new Set<string>([
  'broadcast',
  'read',
  'write-without-response',
  'write',
  'notify',
  'indicate',
  'authenticated-signed-writes',
  'extended-properties',
  'reliable-write',
]);

function advertisementData(a: TraceRecord & { type: 'advertisement' }) {
  return {
    serviceUuids: a.serviceUuids,
    serviceData: Object.fromEntries(Object.entries(a.serviceData).map(([k, v]) => [k, fromHex(v)])),
    manufacturerData: Object.fromEntries(Object.entries(a.manufacturerData).map(([k, v]) => [Number(k), fromHex(v)])),
  };
}

/** ATT_0xNN (imported) -> the code; a transport code (gateway traces) -> Unlikely Error (0x0E) */
function attCode(error: string): number {
  const m = /^ATT_0x([0-9a-f]{2})$/i.exec(error);
  return m ? parseInt(m[1] ?? '0e', 16) : 0x0e;
}
