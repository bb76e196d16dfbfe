import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BleTransport } from '../../gateway/ble/transport';
import { BleError } from '../../gateway/ble/transport';
import { gatewayConfigSchema } from '../../gateway/config/schema';
import { startGateway, type RunningGateway } from '../../gateway/main';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { makePki } from '../support/pki';
import { until } from '../support/wait';
import { startTrustHub, type TrustHub } from './support';

/**
 * TLS by default (docs/security.md "TLS"): the hub's embedded broker listens on mqtts (TLS 1.2+)
 * only and the API on HTTPS; a gateway pinning the hub's CA connects, one pinning another CA is
 * refused; production configs refuse clear-text listeners and URLs off loopback.
 */
const noBle: BleTransport = {
  backend: 'simulated',
  start: () => Promise.reject(new BleError('ADAPTER_UNAVAILABLE', 'no adapter in this test')),
  stop: () => Promise.resolve(),
  adapterState: () => 'absent',
  startScan: () => Promise.resolve(),
  stopScan: () => Promise.resolve(),
  connect: () => Promise.reject(new BleError('NOT_FOUND', 'no adapter')),
};

let dir: string;
let t: TrustHub;
let password = '';
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-tls-'));
  makePki(dir);
  t = await startTrustHub('vigil_tls', {
    mqtt: {
      plain: false,
      tls: { host: '127.0.0.1', port: 0, certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') },
    },
    http: { tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') } },
  });
  await createPatient(t.pg.pool, { id: 'TLS-1', programId: 'heart_failure', displayName: 'TLS' });
  password = (await createGateway(t.pg.pool, { id: 'gw-tls-1', patientId: 'TLS-1' })).password;
}, 60_000);

afterAll(async () => {
  for (const g of gateways) await g.stop();
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

const gatewayWithCa = (ca: string) =>
  gatewayConfigSchema.parse({
    gatewayId: 'gw-tls-1',
    dataDir: mkdtempSync(join(dir, 'gw-')),
    timeZone: 'UTC',
    mqtt: { url: t.hub.mqttUrl.replace('127.0.0.1', 'localhost'), password, caFile: join(dir, ca) },
    logLevel: 'silent',
  });

describe('TLS on the hub', () => {
  it('the broker listens on mqtts only; a gateway pinning the hub CA connects', async () => {
    expect(t.hub.mqttUrl).toMatch(/^mqtts:\/\//);
    const gw = await startGateway(gatewayWithCa('ca.pem'), { transport: noBle }, pino({ level: 'silent' }));
    gateways.push(gw);
    await until('the mqtts connection', () => Promise.resolve(gw.uplink.connected ? true : undefined), 15_000);
    const { rows } = await t.pg.pool.query<{ online: boolean }>(`SELECT online FROM gateways WHERE id = 'gw-tls-1'`);
    await until('online at the hub', async () => {
      const r = await t.pg.pool.query<{ online: boolean }>(`SELECT online FROM gateways WHERE id = 'gw-tls-1'`);
      return r.rows[0]?.online ? true : undefined;
    });
    expect(rows).toHaveLength(1);
    await gw.stop();
    gateways.pop();
  });

  it('a gateway pinning another CA refuses the hub', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const gw = await startGateway(gatewayWithCa('rogue.pem'), { transport: noBle }, log);
    gateways.push(gw);
    await until('a TLS error', () => Promise.resolve(lines.some((l) => l.includes('UPLINK_ERROR')) ? true : undefined));
    expect(lines.filter((l) => l.includes('UPLINK_ERROR')).join('\n')).toMatch(
      /self.signed|unable to verify|certificate/i,
    );
    expect(gw.uplink.connected).toBe(false);
  });

  it('the API answers over HTTPS with TLS 1.2 or later, not TLS 1.1', async () => {
    expect(t.hub.httpUrl).toMatch(/^https:\/\//);
    const get = (opts: { maxVersion?: 'TLSv1.1' }) =>
      new Promise<{ status: number; protocol: string }>((resolve, reject) => {
        const req = request(`${t.hub.httpUrl}/health`, { ca: readFileSync(join(dir, 'ca.pem')), ...opts }, (res) => {
          res.resume();
          resolve({
            status: res.statusCode ?? 0,
            protocol: (res.socket as unknown as { getProtocol(): string }).getProtocol(),
          });
        });
        req.on('error', reject);
        req.end();
      });
    const ok = await get({});
    expect(ok.status).toBe(200);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(ok.protocol);
    await expect(get({ maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });

  it('production configs refuse clear text off loopback unless explicitly insecure', () => {
    const hubConfig = (o: Record<string, unknown>) => loadHubConfig({ env: {}, overrides: o as never });
    expect(() => hubConfig({ mqtt: { host: '0.0.0.0' } })).toThrow(/mqtt\.host: plain MQTT/);
    expect(() => hubConfig({ http: { host: '0.0.0.0' } })).toThrow(/http\.host: plain HTTP/);
    expect(hubConfig({ mqtt: { host: '0.0.0.0', insecure: true } }).mqtt.insecure).toBe(true);
    const gw = { gatewayId: 'gw-tls-2', mqtt: { url: 'mqtt://hub.example.org:1883', password: 'x' } };
    expect(gatewayConfigSchema.safeParse(gw).success).toBe(false);
    expect(gatewayConfigSchema.safeParse({ ...gw, insecure: true }).success).toBe(true);
    expect(
      gatewayConfigSchema.safeParse({ ...gw, mqtt: { ...gw.mqtt, url: 'mqtts://hub.example.org:8883' } }).success,
    ).toBe(true);
    expect(
      gatewayConfigSchema.safeParse({
        ...gw,
        mqtt: { ...gw.mqtt, url: 'mqtts://hub.example.org:8883' },
        enrollment: { hubUrl: 'http://hub.example.org:8080', code: 'VGL-AAAAA-BBBBB-CCCCC-DDDDD' },
      }).success,
    ).toBe(false);
  });
});
