import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { RemoteGatewayConfig, UpdateReport } from '../../contract';
import { errorCode, errorMessage } from '../../contract/errors';
import type { GatewayConfig } from '../config/schema';
import { GATEWAY_VERSION } from '../version';
import { checkRelease } from './install';
import { currentVersion, readOtaState, stageBundle, writeOtaState, type OtaState } from './layout';

type Offer = NonNullable<RemoteGatewayConfig['update']>;

/** largest bundle a box downloads (the release is a few MB; anything far larger is not one) */
const MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024;
const DOWNLOAD_ATTEMPTS = 4;

export interface OtaAgentDeps {
  config: GatewayConfig;
  log: Logger;
  /** the software layout root when a supervisor runs this process (VIGIL_GATEWAY_ROOT), else undefined */
  root: string | undefined;
  /** stops new device sessions; `idle` resolves once none runs (an RACP transfer is never cut) */
  quiesce(): { busy: boolean; idle: Promise<void> };
  /** lets device sessions start again (an offer withdrawn before the switch) */
  resume(): void;
  /** the report changed: send a heartbeat now */
  changed(): void;
  /** stop the gateway cleanly and exit for the supervisor to switch releases */
  restartForUpdate(): void;
}

/**
 * The gateway's over-the-air agent (docs/operations.md "Over-the-air updates"). The hub offers a
 * release in the retained config (`update`: version and SHA-256). The agent fetches the manifest,
 * its signature and the bundle from the hub with the box's own credential, checks them against the
 * box's pinned release key (signature, digest, Node, native modules: a wrong signature is refused
 * and reported), stages the bundle beside the running one, waits until no device session runs
 * (never during an RACP transfer), and exits for the supervisor (supervisor.ts) to switch. Every
 * heartbeat carries its report; the supervisor's verdict (healthy, rolled_back) is read from the
 * shared state file.
 */
export class OtaAgent {
  private working: string | undefined;
  private withdrawn = false;
  private state: OtaState | undefined;

  constructor(private readonly d: OtaAgentDeps) {
    this.state = d.root ? readOtaState(d.root) : undefined;
  }

  /** what the heartbeat carries */
  report(): UpdateReport | undefined {
    const s = this.state;
    return s ? { version: s.version, state: s.state, ...(s.reason ? { reason: s.reason } : {}) } : undefined;
  }

  /** the supervisor promoted this release: its state file says healthy now */
  promoted(): void {
    if (this.d.root) this.state = readOtaState(this.d.root);
    this.d.changed();
  }

  /** the `update` part of a config message (undefined: no offer, or the offer withdrawn) */
  offer(o: Offer | undefined): void {
    if (!o) {
      if (this.working) {
        this.withdrawn = true;
        this.d.log.info({ code: 'UPDATE_WITHDRAWN', version: this.working }, 'update offer withdrawn');
      }
      return;
    }
    const root = this.d.root;
    if (this.working === o.version || o.version === GATEWAY_VERSION) return;
    if (root && currentVersion(root) === o.version) return;
    // a release that failed here is not tried again; the hub sees the report until it offers another
    const last = this.state;
    const failed = last?.state === 'rolled_back' || (last?.state === 'refused' && last.reason !== 'UPDATE_WITHDRAWN');
    if (last?.version === o.version && failed) return;
    if (this.working) return; // one update at a time; the hub offers the next once this one ends
    if (!root) {
      this.set({ version: o.version, state: 'refused', reason: 'UPDATE_UNSUPERVISED' });
      this.d.log.warn({ code: 'UPDATE_UNSUPERVISED' }, 'update refused: no supervisor runs this gateway');
      return;
    }
    this.working = o.version;
    this.withdrawn = false;
    void this.run(root, o).finally(() => {
      this.working = undefined;
    });
  }

  /** the hub may withdraw the offer while the agent awaits (a halted rollout) */
  private isWithdrawn(): boolean {
    return this.withdrawn;
  }

  private set(s: Omit<OtaState, 'at'>): void {
    this.state = this.d.root ? writeOtaState(this.d.root, s) : { ...s, at: new Date().toISOString() };
    this.d.changed();
  }

  private async run(root: string, o: Offer): Promise<void> {
    const { log } = this.d;
    const from = currentVersion(root);
    if (!from) {
      this.refuse(o.version, 'NO_CURRENT_RELEASE', new Error('no current release to roll back to'));
      return;
    }
    this.set({ version: o.version, state: 'downloading', from });
    let files: { manifest: Buffer; signature: string; artifact: Buffer };
    try {
      files = await this.download(o.version);
    } catch (e) {
      this.refuse(o.version, errorCode(e) ?? 'UPDATE_DOWNLOAD_FAILED', e);
      return;
    }
    try {
      const publicKeyPem = readFileSync(this.d.config.update.publicKeyFile, 'utf8');
      const manifest = checkRelease(root, { ...files, publicKeyPem });
      if (manifest.version !== o.version || manifest.sha256 !== o.sha256)
        throw Object.assign(new Error(`the manifest is ${manifest.version}, not the offered ${o.version}`), {
          code: 'RELEASE_NOT_OFFERED',
        });
      stageBundle(root, o.version, {
        'gateway.mjs': files.artifact,
        'manifest.json': files.manifest,
        'manifest.sig': Buffer.from(files.signature),
      });
    } catch (e) {
      this.refuse(o.version, errorCode(e) ?? 'UPDATE_STAGING_FAILED', e);
      return;
    }
    if (this.isWithdrawn()) {
      this.abandon(o.version);
      return;
    }
    this.set({ version: o.version, state: 'installed', from });
    log.info({ code: 'UPDATE_STAGED', version: o.version }, 'release verified and staged');
    const { busy, idle } = this.d.quiesce();
    if (busy) {
      // a device session runs (an RACP transfer, perhaps): it ends first, then the switch
      this.set({ version: o.version, state: 'waiting', reason: 'DEVICE_SESSION', from });
      log.info({ code: 'UPDATE_WAITING', version: o.version }, 'switch deferred until the device session ends');
    }
    await idle;
    if (this.isWithdrawn()) {
      this.abandon(o.version);
      return;
    }
    this.set({ version: o.version, state: 'switching', from, attempts: 0 });
    log.info({ code: 'UPDATE_SWITCHING', from, to: o.version }, 'restarting into the new release');
    this.d.restartForUpdate();
  }

  private refuse(version: string, code: string, e: unknown): void {
    this.d.resume();
    this.set({ version, state: 'refused', reason: code });
    this.d.log.warn({ code, version, err: errorMessage(e) }, 'update refused');
  }

  private abandon(version: string): void {
    this.d.resume();
    // reported as refused (the hub withdrew it); offered again later, it is tried again
    this.set({ version, state: 'refused', reason: 'UPDATE_WITHDRAWN' });
  }

  private async download(version: string): Promise<{ manifest: Buffer; signature: string; artifact: Buffer }> {
    const base = this.d.config.update.hubUrl ?? this.d.config.enrollment?.hubUrl;
    if (!base)
      throw Object.assign(new Error('no hub URL for releases (update.hubUrl)'), { code: 'UPDATE_HUB_URL_MISSING' });
    const get = async (file: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.get(new URL(`/gateway/releases/${encodeURIComponent(version)}/${file}`, base));
        } catch (e) {
          if (attempt >= DOWNLOAD_ATTEMPTS || errorCode(e) === 'UPDATE_DOWNLOAD_DENIED') throw e;
          await new Promise((r) => setTimeout(r, 1_000 * 2 ** attempt));
        }
      }
    };
    const manifest = await get('manifest.json');
    const signature = (await get('manifest.sig')).toString('utf8').trim();
    const artifact = await get('bundle.mjs');
    return { manifest, signature, artifact };
  }

  /**
   * GET with node:http(s) (fetch needs WebAssembly, which the box's V8 runs without) and the box's
   * credential (HTTP Basic: gateway id and the password issued at enrollment), pinned CA when set.
   */
  private get(url: URL): Promise<Buffer> {
    const { config } = this.d;
    const ca = config.mqtt.caFile ? readFileSync(config.mqtt.caFile) : undefined;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const auth = Buffer.from(`${config.gatewayId}:${config.mqtt.password}`).toString('base64');
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method: 'GET', headers: { authorization: `Basic ${auth}` }, timeout: 60_000, ...(ca ? { ca } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_DOWNLOAD_BYTES) req.destroy(new Error('download larger than any release'));
            else chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 200) resolve(Buffer.concat(chunks));
            else
              reject(
                Object.assign(new Error(`hub answered ${status} for ${url.pathname}`), {
                  code:
                    status === 401 || status === 403 || status === 404
                      ? 'UPDATE_DOWNLOAD_DENIED'
                      : 'UPDATE_DOWNLOAD_FAILED',
                }),
              );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
      req.on('error', reject);
      req.end();
    });
  }
}
