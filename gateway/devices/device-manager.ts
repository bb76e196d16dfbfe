import type { Logger } from 'pino';
import type { Advertisement, DriverRegistry, LoadedDriver } from '../../drivers';
import { BleError, type BleTransport } from '../ble/transport';
import type { PairingStore } from '../pairing/pairing-store';
import { runDeviceSession, type CommitFn } from './device-session';
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
  private running = false;
  private stopped = false;
  private current?: Promise<void>;

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

  async start(): Promise<void> {
    await this.transport.start();
    await this.transport.startScan((adv) => this.onAdvertisement(adv));
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

  private drain(): void {
    if (this.running) return;
    this.running = true;
    this.current = (async () => {
      let next;
      while (!this.stopped && (next = this.queue.shift())) await this.session(next.address, next.driver);
    })().finally(() => {
      this.running = false;
    });
  }

  private async session(address: string, driver: LoadedDriver): Promise<void> {
    const s = this.state(address);
    s.busy = true;
    this.counters.sessions++;
    try {
      await this.bondIfAllowed(address, driver);
      const conn = await this.transport.connect(address, { timeoutMs: this.opts.connectTimeoutMs });
      try {
        const r = await runDeviceSession(conn, driver, {
          gatewayId: this.opts.gatewayId,
          timeZone: this.opts.timeZone,
          registry: this.registry,
          idleDisconnectMs: this.opts.idleDisconnectMs,
          log: this.log,
          commit: this.commit,
          cursor: this.opts.cursor,
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
    } finally {
      s.busy = false;
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    // shutting down: each step is attempted whatever the previous one did, and failures are only logged
    const logged = (step: string) => (e: unknown) => {
      this.log.warn({ err: errorMessage(e) }, `${step} failed during stop`);
    };
    await this.transport.stopScan().catch(logged('scan stop'));
    await this.current?.catch(logged('current session'));
    await this.transport.stop().catch(logged('transport stop'));
  }
}
