import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatSchema, readingId, topicFor, type Reading } from '../../contract';
import { ReadingBuffer } from '../../gateway/buffer/reading-buffer';
import type { BleTransport } from '../../gateway/ble/transport';
import { BleError } from '../../gateway/ble/transport';
import { gatewayConfigSchema, type GatewayConfigInput } from '../../gateway/config/schema';
import { startGateway, type RunningGateway } from '../../gateway/main';
import { until } from '../support/wait';
import { makePki } from '../support/pki';

/**
 * The gateway's MQTT link: mqtts:// to a broker whose certificate is issued by the pinned CA (and
 * refused when another CA issued it), and remote config on the retained config topic validated
 * with the local config schema. Real aedes broker over TLS, certificates made with openssl.
 */
const GW = 'gw-it-uplink-01';

/** A BLE stack that is not there: the gateway keeps its uplink running without one. */
const noBle: BleTransport = {
  backend: 'simulated',
  start: () => Promise.reject(new BleError('ADAPTER_UNAVAILABLE', 'no adapter in this test')),
  stop: async () => {},
  adapterState: () => 'absent',
  startScan: async () => {},
  stopScan: async () => {},
  connect: () => Promise.reject(new BleError('NOT_FOUND', 'no adapter')),
};

describe('gateway uplink: TLS with a pinned CA, remote config on the retained topic', () => {
  let dir: string;
  let broker: Aedes;
  let server: Server;
  let port: number;
  const gateways: RunningGateway[] = [];
  const retained = new Map<string, string>();

  const gatewayConfig = (dataDir: string, over: Partial<GatewayConfigInput> = {}) =>
    gatewayConfigSchema.parse({
      gatewayId: GW,
      dataDir,
      timeZone: 'UTC',
      mqtt: {
        url: `mqtts://127.0.0.1:${port}`,
        password: 'pw',
        caFile: join(dir, 'ca.pem'),
        heartbeatIntervalMs: 1000,
      },
      logLevel: 'silent',
      ...over,
    });
  const logLines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void logLines.push(l) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-uplink-'));
    makePki(dir);
    broker = await Aedes.createBroker();
    broker.on('publish', (packet) => {
      if (packet.retain) retained.set(packet.topic, packet.payload.toString());
    });
    server = createServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
      broker.handle as never,
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.stop();
  });

  afterAll(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects over mqtts:// to a broker certified by the pinned CA and publishes its retained birth', async () => {
    const gw = await startGateway(gatewayConfig(mkdtempSync(join(dir, 'gw-'))), { transport: noBle }, log);
    gateways.push(gw);
    await until('the TLS connection', () => (gw.uplink.connected ? true : undefined));
    const birth = await until('the birth message', () => retained.get(topicFor(GW, 'status')));
    expect(JSON.parse(birth)).toMatchObject({ gatewayId: GW, state: 'online' });
  });

  it('refuses a broker whose certificate another CA issued (pinning), and keeps trying', async () => {
    logLines.length = 0;
    const gw = await startGateway(gatewayConfig(mkdtempSync(join(dir, 'gw-')), {}), { transport: noBle }, log);
    gateways.push(gw);
    // same broker, but the gateway pins the rogue CA
    await gw.stop();
    gateways.pop();
    const pinnedWrong = gatewayConfig(mkdtempSync(join(dir, 'gw-')));
    pinnedWrong.mqtt.caFile = join(dir, 'rogue.pem');
    const g2 = await startGateway(pinnedWrong, { transport: noBle }, log);
    gateways.push(g2);
    await until('a TLS error', () => (logLines.some((l) => l.includes('UPLINK_ERROR')) ? true : undefined));
    expect(logLines.filter((l) => l.includes('UPLINK_ERROR')).join('\n')).toMatch(
      /self.signed|unable to verify|certificate/i,
    );
    expect(g2.uplink.connected).toBe(false);
  });

  it('applies a valid retained remote config (pairing window, allow-list) and rejects an invalid one with every problem', async () => {
    logLines.length = 0;
    const dataDir = mkdtempSync(join(dir, 'gw-'));
    const gw = await startGateway(gatewayConfig(dataDir), { transport: noBle }, log);
    gateways.push(gw);
    await until('connected', () => (gw.uplink.connected ? true : undefined));
    const hub = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: [readFileSync(join(dir, 'ca.pem'))],
      protocolVersion: 4,
    });
    const openUntil = new Date(Date.now() + 60_000).toISOString();
    await hub.publishAsync(
      topicFor(GW, 'config'),
      JSON.stringify({ pairing: { openUntil, minRssi: -70 }, devices: { allow: ['A4:C1:38:77:00:01'] } }),
      { qos: 1, retain: true },
    );
    await until('the config applied', () =>
      logLines.some((l) => l.includes('REMOTE_CONFIG_APPLIED')) ? true : undefined,
    ).catch((e: unknown) => {
      console.log(logLines.join(''));
      throw e;
    });
    expect(gw.devices.pairingOpen).toBe(true);
    expect(gw.pairing.list().map((d) => [d.address, d.source])).toEqual([['A4:C1:38:77:00:01', 'hub']]);
    // kept for the next start
    expect(
      (JSON.parse(readFileSync(join(dataDir, 'remote-config.json'), 'utf8')) as { pairing: { minRssi: number } })
        .pairing.minRssi,
    ).toBe(-70);

    await hub.publishAsync(
      topicFor(GW, 'config'),
      JSON.stringify({
        mqtt: { url: 'mqtt://evil:1883' },
        ble: { connectTimeoutMs: 5 },
        devices: { allow: ['not-an-address'] },
      }),
      { qos: 1, retain: true },
    );
    const rejected = await until('the rejection', () => logLines.find((l) => l.includes('REMOTE_CONFIG_INVALID')));
    const problems = (JSON.parse(rejected) as { problems: string }).problems;
    expect(problems).toMatch(/mqtt\.url: not settable remotely/);
    expect(problems).toMatch(/ble\.connectTimeoutMs/);
    expect(problems).toMatch(/devices\.allow\.0/);
    // the running config is untouched
    expect(gw.pairing.list()).toHaveLength(1);
    await hub.publishAsync(topicFor(GW, 'config'), '', { qos: 1, retain: true });
    await hub.endAsync();
  });

  it('raises QUEUE_NEAR_CAPACITY in the heartbeat before anything is dropped', async () => {
    const dataDir = mkdtempSync(join(dir, 'gw-'));
    const device = { address: 'A4:C1:38:77:00:02', driver: 'sig-blood-pressure' };
    const readings: Reading[] = Array.from({ length: 8 }, (_, i) => {
      const deviceTime = new Date(Date.UTC(2026, 0, 1, 8, i)).toISOString().slice(0, 19);
      return {
        id: readingId({ device, metric: 'blood_pressure_systolic', deviceTime }),
        gatewayId: GW,
        device,
        metric: 'blood_pressure_systolic',
        value: 120 + i,
        unit: 'mm[Hg]',
        measuredAt: `${deviceTime}.000Z`,
        deviceTime,
        flags: [],
      };
    });
    const b = new ReadingBuffer(join(dataDir, 'buffer.sqlite'));
    b.enqueue(readings);
    b.close();
    const watcher = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: [readFileSync(join(dir, 'ca.pem'))],
      protocolVersion: 4,
    });
    const beats: unknown[] = [];
    watcher.on('message', (_t, payload) => beats.push(JSON.parse(payload.toString())));
    await watcher.subscribeAsync(topicFor(GW, 'heartbeat'));
    // nobody receipts on this broker: the 8 readings stay, 80 % of a 10-reading buffer
    const gw = await startGateway(
      gatewayConfig(dataDir, { buffer: { maxReadings: 10, alarmRatio: 0.8, maxAgeDays: 60 } }),
      { transport: noBle },
      log,
    );
    gateways.push(gw);
    const beat = heartbeatSchema.parse(await until('a heartbeat', () => beats[0]));
    expect(beat.queue).toMatchObject({ depth: 8, alarm: 'QUEUE_NEAR_CAPACITY' });
    expect(gw.buffer.stats().dropped).toBe(0);
    await watcher.endAsync();
  });
});

describe('gateway uplink: the receipt timeout runs from the PUBACK', () => {
  it('does not re-send a batch the broker acknowledged late when its receipt follows the PUBACK', async () => {
    // a broker like the embedded hub in a storm: the PUBACK comes once the batch is filed, long
    // after the publish (2 s, past the 1 s receipt timeout), and the receipt a moment after it
    const received: string[][] = [];
    let heartbeats = 0;
    const broker = await Aedes.createBroker({
      authorizePublish: (client, packet, done) => {
        if (packet.topic.endsWith('/heartbeat')) heartbeats++;
        if (!client || !packet.topic.endsWith('/readings')) {
          done(null);
          return;
        }
        const batch = JSON.parse(packet.payload.toString()) as { batchId: string; readings: { id: string }[] };
        received.push(batch.readings.map((r) => r.id));
        setTimeout(() => {
          done(null);
          setTimeout(() => {
            const receipt = {
              v: 1,
              batchId: batch.batchId,
              results: batch.readings.map((r) => ({ id: r.id, outcome: 'stored' })),
            };
            broker.publish(
              {
                cmd: 'publish',
                topic: topicFor(GW, 'receipts'),
                payload: Buffer.from(JSON.stringify(receipt)),
                qos: 1,
                retain: false,
                dup: false,
              },
              () => {},
            );
          }, 300);
        }, 2_000);
      },
    });
    const tcp = (await import('node:net')).createServer(broker.handle);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'vigil-uplink-puback-'));
    const device = { address: 'A4:C1:38:77:00:03', driver: 'sig-blood-pressure' };
    const readings: Reading[] = Array.from({ length: 5 }, (_, i) => {
      const deviceTime = new Date(Date.UTC(2026, 0, 2, 8, i)).toISOString().slice(0, 19);
      return {
        id: readingId({ device, metric: 'blood_pressure_systolic', deviceTime, value: 120 + i }),
        gatewayId: GW,
        device,
        metric: 'blood_pressure_systolic',
        value: 120 + i,
        unit: 'mm[Hg]',
        measuredAt: `${deviceTime}.000Z`,
        deviceTime,
        flags: [],
      };
    });
    const b = new ReadingBuffer(join(dir, 'buffer.sqlite'));
    b.enqueue(readings);
    b.close();
    const config = gatewayConfigSchema.parse({
      gatewayId: GW,
      dataDir: dir,
      timeZone: 'UTC',
      mqtt: {
        url: `mqtt://127.0.0.1:${(tcp.address() as { port: number }).port}`,
        password: 'pw',
        receiptTimeoutMs: 1_000,
        batchSize: 5,
      },
      logLevel: 'silent',
    });
    const gw = await startGateway(config, { transport: noBle }, pino({ level: 'silent' }));
    try {
      await until(
        'the buffer emptied by the receipt',
        () => (gw.buffer.stats().depth === 0 ? true : undefined),
        15_000,
      );
      // the marker: a heartbeat sent after the receipt reached the broker; a re-send published
      // before it on the same connection would have arrived first (MQTT keeps a connection's order)
      const before = heartbeats;
      gw.uplink.heartbeat();
      await until('a heartbeat after the receipt', () => (heartbeats > before ? true : undefined));
      expect(received).toEqual([readings.map((r) => r.id)]);
    } finally {
      await gw.stop();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
