import type { Logger } from 'pino';
import type { Advertisement, DriverRegistry, LoadedDriver } from '../../drivers';
import type { AgentPolicy } from '../ble/pairing-agent';
import { BleError, type BleConnection, type BleTransport } from '../ble/transport';
import type { PairingStore } from '../pairing/pairing-store';
import { runDeviceSession, type CommitFn, type DeviceStateStore } from './device-session';
import { toReading } from './reading-factory';
import { errorMessage } from '../../contract/errors';

export interface DeviceManagerOptions {
  gatewayId: string;
  timeZone: string;
  allow: readonly string[];
  connectTimeoutMs: number;
  idleDisconnectMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** after a good session, the device is left alone this long (it keeps advertising) */
  cooldownMs?: number;
  /** persisted allow-list and pairing window (absent: `allow` only, no window) */
  pairing?: PairingStore;
  /** during a pairing window, only devices heard at least this strongly are paired */
  pairingMinRssi?: number;
  /** stored-record cursor of a device (RACP "greater than last sequence") */
  cursor?: (deviceKey: string) => number | undefined;
  /** how long bonding a device may take (connect + pairing + key distribution) */
  bondTimeoutMs?: number;
  /** sessions at once (BlueZ holds several LE links; connects themselves are one at a time) */
  maxSessions?: number;
  /** an advertisement older than this is stale: the device has gone back to sleep, do not connect */
  advertFreshMs?: number;
  /** connection attempts while the advertisement is fresh (bleak-retry-connector makes up to 4) */
  connectAttempts?: number;
  /** first pause between two attempts; doubles, with jitter */
  connectRetryMs?: number;
  /** persisted per-device driver state (vendor pairing keys) */
  state?: DeviceStateStore;
  /** passkeys relayed from the hub, for devices that display one while pairing (gateway/pairing/passkey-relay.ts) */
  passkey?: AgentPolicy['passkey'];
}

export interface DeviceState {
  address: string;
  driver?: string;
  lastSeenAt?: Date;
  lastSyncAt?: Date;
  rssi?: number;
  battery?: number;
  failures: number;
  nextAttemptAt: number;
  busy: boolean;
}

export interface DeviceManagerCounters {
  ignoredUnpaired: number;
  paired: number;
  unsupported: number;
  sessions: number;
  sessionFailures: number;
  readings: number;
  /** bonds made (BlueZ Device1.Pair) for drivers with bonding: 'required' or lost bonds */
  bonded: number;
  /** bonding attempts refused or failed (AUTH_FAILED, ...) */
  bondFailures: number;
  /** sessions refused for lack of a bond (NOT_BONDED: never bonded, or the bond was lost) */
  notBonded: number;
}

/**
 * Scans, keeps devices outside the allow-list out (a neighbour's scale never reaches a record),
 * matches drivers, decodes broadcast devices from their advertisements, and runs one connection
 * at a time to connectable devices with exponential backoff and jitter on failure.
 */
export class DeviceManager {
  readonly devices = new Map<string, DeviceState>();
  readonly counters: DeviceManagerCounters = {
    ignoredUnpaired: 0,
    paired: 0,
    unsupported: 0,
    sessions: 0,
    sessionFailures: 0,
    readings: 0,
    bonded: 0,
    bondFailures: 0,
    notBonded: 0,
  };
  private readonly allow: Set<string>;
  /**
   * Bonding is an act of pairing, never a side effect of hearing a device: a device may be bonded
   * only when it was paired to the box while this process runs (window, hub, `gateway pair
   * --address`), or, with its bond lost (NOT_BONDED), while a pairing window is open.
   */
  private readonly mayBond = new Set<string>();
  /** sessions failed with NOT_BONDED since the last good one (the adapter's bond, if any, is stale) */
  private readonly bondLost = new Set<string>();
  private initialised = false;
  private windowUntil: number | undefined;
  private readonly queue: { address: string; driver: LoadedDriver }[] = [];
  private stopped = false;
  /** no new session while a software switch waits (quiesce) */
  private held = false;
  /** sessions running now */
  private readonly active = new Set<Promise<void>>();
  /** one connect (or bond) at a time on the radio */
  private connecting: Promise<unknown> = Promise.resolve();
  private onAdvertisementBound = (adv: Advertisement) => this.onAdvertisement(adv);

  constructor(
    private readonly transport: BleTransport,
    private readonly registry: DriverRegistry,
    private readonly commit: CommitFn,
    private opts: DeviceManagerOptions,
    private readonly log: Logger,
  ) {
    this.allow = new Set(opts.allow.map((a) => a.toUpperCase()));
    // config `devices.allow` seeds the persisted allow-list
    for (const a of this.allow) opts.pairing?.pair(a, 'config');
    this.refreshPairing();
    this.initialised = true;
    // bluetoothd asks this agent while bonding: only what pairing allows now (deny by default)
    transport.setPairingAgent?.({
      mayPair: (address) => this.mayPairNow(address),
      passkey: opts.passkey ?? (() => Promise.resolve(undefined)),
      event: (code, address, detail) => {
        const refused = code === 'PAIRING_REFUSED' || code === 'PASSKEY_MISSING';
        (refused ? log.warn : log.info).call(log, { code, device: address, ...detail }, 'pairing agent');
      },
    });
  }

  /** pairing: adds a device to the allow-list at run time (persisted when a store is given) */
  allowDevice(address: string, source: 'hub' | 'cli' | 'config' = 'hub'): void {
    this.allow.add(address.toUpperCase());
    this.opts.pairing?.pair(address, source);
    if (source !== 'config') this.mayBond.add(address.toUpperCase());
  }

  /** re-reads the persisted allow-list and window (the CLI writes them from another process) */
  refreshPairing(): void {
    const store = this.opts.pairing;
    if (!store) return;
    for (const d of store.list()) {
      // paired from another process (CLI) while we run: an explicit pair, which may bond
      if (this.initialised && !this.allow.has(d.address) && d.source !== 'config') this.mayBond.add(d.address);
      this.allow.add(d.address);
    }
    const until = store.windowOpenUntil();
    if (until !== this.windowUntil)
      this.log.info(
        {
          code: until ? 'PAIRING_WINDOW_OPEN' : 'PAIRING_WINDOW_CLOSED',
          until: until ? new Date(until).toISOString() : null,
        },
        'pairing window',
      );
    this.windowUntil = until;
  }

  setPairingMinRssi(dbm: number): void {
    this.opts.pairingMinRssi = dbm;
  }

  get pairingOpen(): boolean {
    return this.windowUntil !== undefined && this.windowUntil > Date.now();
  }

  /**
   * The pairing agent's question: may this device bond now? Only during a window, or while an
   * explicit pair of this very device (hub, CLI) is pending.
   */
  mayPairNow(address: string): boolean {
    const a = address.toUpperCase();
    return this.mayBond.has(a) || (this.pairingOpen && this.allow.has(a));
  }

  async start(): Promise<void> {
    await this.transport.start();
    await this.transport.startScan(this.onAdvertisementBound);
  }

  /**
   * The radio came back (new bluetoothd, adapter re-plugged or powered on): a fresh transport
   * session, the agent registered again (the transport does it at start) and discovery restarted.
   */
  async restartRadio(): Promise<void> {
    await this.transport.stop().catch(() => undefined);
    if (this.stopped) return;
    await this.transport.start();
    await this.transport.startScan(this.onAdvertisementBound);
  }

  private state(address: string): DeviceState {
    let s = this.devices.get(address);
    if (!s) {
      s = { address, failures: 0, nextAttemptAt: 0, busy: false };
      this.devices.set(address, s);
    }
    return s;
  }

  onAdvertisement(adv: Advertisement): void {
    if (this.stopped) return;
    const address = adv.address.toUpperCase();
    const known = this.allow.has(address);
    // outside a pairing window, an unknown device is not even decoded
    if (!known && !this.pairingOpen) {
      this.counters.ignoredUnpaired++;
      return;
    }
    const driver = this.registry.match(adv);
    if (!driver) {
      if (known) this.counters.unsupported++;
      return;
    }
    if (!known) {
      // window open: a supported device next to the box is paired; one heard through the wall is not
      if (adv.rssi !== undefined && adv.rssi < (this.opts.pairingMinRssi ?? -80)) {
        this.counters.ignoredUnpaired++;
        return;
      }
      this.allow.add(address);
      this.mayBond.add(address);
      this.opts.pairing?.pair(address, 'window', driver.definition.id);
      this.counters.paired++;
      this.log.info(
        { code: 'DEVICE_PAIRED', device: address, driver: driver.definition.id, rssi: adv.rssi },
        'device paired during the pairing window',
      );
    }
    // the quirk registry matches devices by name (drivers/common/quirk-registry.ts)
    if (adv.name) this.registry.noteIdentity(address, { localName: adv.name });
    const s = this.state(address);
    s.driver = driver.definition.id;
    s.lastSeenAt = new Date();
    if (adv.rssi !== undefined) s.rssi = adv.rssi;
    if (driver.definition.linkMode === 'broadcast') {
      this.fromAdvertisement(adv, driver);
      return;
    }
    if (s.busy || Date.now() < s.nextAttemptAt || this.queue.some((q) => q.address === address)) return;
    this.queue.push({ address, driver });
    this.drain();
  }

  private fromAdvertisement(adv: Advertisement, driver: LoadedDriver): void {
    const out = this.registry.decodeAdvertisement(driver.definition.id, adv);
    if (!out.ok) return;
    const raw = Buffer.concat(Object.values(adv.serviceData).map((b) => Buffer.from(b)));
    const receivedAt = new Date();
    const readings = out.result.measurements.map((m) =>
      toReading(m, {
        gatewayId: this.opts.gatewayId,
        address: adv.address.toUpperCase(),
        driver: driver.definition.id,
        timeZone: this.opts.timeZone,
        receivedAt,
        raw,
      }),
    );
    if (readings.length) {
      try {
        this.commit(readings);
      } catch {
        return; // logged by the buffer owner; the scale advertises the reading again
      }
      this.counters.readings += readings.length;
    }
  }

  /**
   * Starts queued sessions up to maxSessions. A queued device whose advertisement went stale
   * meanwhile is dropped (it sleeps again; its next advertisement queues it anew) rather than
   * tried with a connect that cannot succeed while a fresh one waits.
   */
  private drain(): void {
    const max = this.opts.maxSessions ?? 3;
    const fresh = this.opts.advertFreshMs ?? 10_000;
    if (this.held) return;
    while (!this.stopped && this.active.size < max && this.queue.length) {
      const next = this.queue.shift();
      if (!next) break;
      const s = this.state(next.address);
      if (Date.now() - (s.lastSeenAt?.getTime() ?? 0) > fresh) {
        this.log.debug({ device: next.address, code: 'ADVERT_STALE' }, 'advertisement stale; waiting for the next');
        continue;
      }
      s.busy = true;
      const run: Promise<void> = this.session(next.address, next.driver).finally(() => {
        s.busy = false;
        this.active.delete(run);
        this.drain();
      });
      this.active.add(run);
    }
  }

  /** runs fn alone on the radio, discovery paused (the single radio of a Pi cannot scan and initiate well at once) */
  private async onRadio<T>(fn: () => Promise<T>): Promise<T> {
    const turn = this.connecting.then(async () => {
      await this.transport.pauseDiscovery?.().catch(() => undefined);
      try {
        return await fn();
      } finally {
        await this.transport.resumeDiscovery?.().catch(() => undefined);
      }
    });
    this.connecting = turn.catch(() => undefined);
    return turn;
  }

  /**
   * Connects while the advertisement is fresh: up to connectAttempts, with a doubling pause
   * (jittered) between attempts during which discovery runs again, so a device that went back
   * to sleep is noticed and not chased. Errors that another attempt cannot cure end at once.
   */
  private async connectFresh(address: string): Promise<BleConnection> {
    const attempts = this.opts.connectAttempts ?? 3;
    const fresh = this.opts.advertFreshMs ?? 10_000;
    const s = this.state(address);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.onRadio(() => this.transport.connect(address, { timeoutMs: this.opts.connectTimeoutMs }));
      } catch (e) {
        const retryable =
          e instanceof BleError && ['CONNECT_TIMEOUT', 'FAILED', 'IN_PROGRESS', 'DISCONNECTED'].includes(e.code);
        const stale = Date.now() - (s.lastSeenAt?.getTime() ?? 0) > fresh;
        if (!retryable || attempt >= attempts || stale || this.stopped) throw e;
        const pause = (this.opts.connectRetryMs ?? 250) * 2 ** (attempt - 1);
        this.log.info(
          { device: address, code: 'CONNECT_RETRY', attempt, err: (e as Error).message },
          'connection attempt failed; retrying while the device advertises',
        );
        await new Promise((r) => setTimeout(r, pause / 2 + Math.random() * (pause / 2)));
      }
    }
  }

  private async session(address: string, driver: LoadedDriver): Promise<void> {
    const s = this.state(address);
    this.counters.sessions++;
    try {
      // taken before bonding uses up the explicit pair: the session may program the device
      const pairing = this.mayPairNow(address);
      await this.onRadio(() => this.bondIfAllowed(address, driver));
      const conn = await this.connectFresh(address);
      try {
        const r = await runDeviceSession(conn, driver, {
          gatewayId: this.opts.gatewayId,
          timeZone: this.opts.timeZone,
          registry: this.registry,
          idleDisconnectMs: this.opts.idleDisconnectMs,
          log: this.log,
          commit: this.commit,
          cursor: this.opts.cursor,
          pairing,
          state: this.opts.state,
        });
        this.counters.readings += r.readings;
        if (r.battery !== undefined) s.battery = r.battery;
        s.lastSyncAt = new Date();
        s.failures = 0;
        this.bondLost.delete(address);
        this.mayBond.delete(address); // the explicit pair has been used
        s.nextAttemptAt = Date.now() + (this.opts.cooldownMs ?? 20_000);
        this.log.info(
          { device: address, driver: driver.definition.id, readings: r.readings, clockOffsetMs: r.clockOffsetMs },
          'device synchronised',
        );
      } finally {
        await conn.disconnect().catch((e: unknown) => {
          // the link is going away either way; the next session starts from a fresh connect
          this.log.debug({ device: address, err: errorMessage(e) }, 'disconnect failed');
        });
      }
    } catch (e) {
      this.counters.sessionFailures++;
      if (e instanceof BleError && e.code === 'NOT_BONDED') {
        this.counters.notBonded++;
        if (!this.bondLost.has(address)) {
          this.bondLost.add(address);
          this.log.warn(
            {
              device: address,
              driver: driver.definition.id,
              code: 'DEVICE_NOT_BONDED',
              hint: 'open a pairing window (gateway pair) with the device next to the box to bond it again',
            },
            'device refuses to talk without a bond (device reset or box re-imaged)',
          );
        }
        if (this.pairingOpen) {
          // the window re-bonds it: try again at once, no backoff
          s.nextAttemptAt = Date.now() + 200;
          return;
        }
      }
      if (e instanceof BleError && e.code === 'IN_PROGRESS') {
        // org.bluez.Error.InProgress: BlueZ is still busy with a previous attempt; retry soon, no backoff
        s.nextAttemptAt = Date.now() + 500 + Math.random() * 1000;
        this.log.info({ device: address, code: e.code }, 'adapter busy; retrying shortly');
        return;
      }
      s.failures++;
      // exponential backoff with full jitter (AWS architecture blog "Exponential Backoff and Jitter")
      const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** (s.failures - 1));
      s.nextAttemptAt = Date.now() + cap / 2 + Math.random() * (cap / 2);
      this.log.warn(
        {
          device: address,
          code: e instanceof BleError ? e.code : ((e as { code?: string }).code ?? 'SESSION_FAILED'),
          err: (e as Error).message,
          failures: s.failures,
        },
        'device session failed; will retry',
      );
    }
  }

  /**
   * Drivers with bonding: 'required' (and devices whose bond was lost) are bonded before their
   * session, only when pairing allows it (see mayBond). Otherwise the session runs on whatever bond
   * the adapter has, and a missing one surfaces as NOT_BONDED.
   */
  private async bondIfAllowed(address: string, driver: LoadedDriver): Promise<void> {
    const lost = this.bondLost.has(address);
    const wanted = driver.definition.bonding === 'required' || lost;
    if (!wanted || !(this.mayBond.has(address) || (lost && this.pairingOpen))) return;
    try {
      if (!this.transport.pair)
        throw new BleError('NOT_SUPPORTED', `the ${this.transport.backend} backend cannot bond`);
      const before = (await this.transport.isBonded?.(address).catch(() => false)) ?? false;
      // a lost bond that the adapter still holds is stale: replaced, not kept
      await this.transport.pair(address, { timeoutMs: this.opts.bondTimeoutMs ?? 30_000, replace: lost });
      this.mayBond.delete(address);
      this.bondLost.delete(address); // a NOT_BONDED after this is news again
      if (!before || lost) {
        this.counters.bonded++;
        this.log.info(
          { code: 'DEVICE_BONDED', device: address, driver: driver.definition.id, rebond: lost },
          'device bonded',
        );
      }
    } catch (e) {
      this.counters.bondFailures++;
      this.log.warn(
        {
          code: 'DEVICE_BOND_FAILED',
          device: address,
          driver: driver.definition.id,
          reason: e instanceof BleError ? e.code : 'FAILED',
          err: (e as Error).message,
        },
        'bonding failed; nothing is read until it succeeds',
      );
      throw e;
    }
  }

  /**
   * Before a software switch (gateway/update/ota-agent.ts): no new session starts; `idle` resolves
   * once the running ones ended on their own, so a stored-record (RACP) transfer is never cut.
   * The devices keep their records meanwhile and the queue waits.
   */
  quiesce(): { busy: boolean; idle: Promise<void> } {
    this.held = true;
    const busy = this.active.size > 0;
    const idle = (async () => {
      while (this.active.size) await Promise.allSettled([...this.active]);
    })();
    return { busy, idle };
  }

  /** sessions may start again (the update was abandoned) */
  resume(): void {
    this.held = false;
    this.drain();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    // shutting down: each step is attempted whatever the previous one did, and failures are only logged
    const logged = (step: string) => (e: unknown) => {
      this.log.warn({ err: errorMessage(e) }, `${step} failed during stop`);
    };
    await this.transport.stopScan().catch(logged('scan stop'));
    await Promise.allSettled([...this.active]);
    await this.transport.stop().catch(logged('transport stop'));
  }
}
