import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retainedIndexedPersistence } from '../../hub/broker/retained-index';

/**
 * Retained messages found by exact topic (hub/broker/retained-index.ts) are the ones MQTT says a
 * subscriber gets (MQTT 3.1.1 section 3.3.1.3): the last retained message of each matching topic,
 * none once cleared by an empty retained payload, and wildcard filters still answered, over a real
 * aedes broker and real MQTT clients.
 */
let aedes: Aedes;
let server: Server;
let url: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  aedes = await Aedes.createBroker({ persistence: retainedIndexedPersistence() });
  server = createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => aedes.close(() => r()));
});

async function client(): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

/** subscribes and collects the retained messages that arrive until `n` came */
async function retainedFor(filters: string[], n: number): Promise<Record<string, string>> {
  const c = await client();
  const got: Record<string, string> = {};
  const all = new Promise<void>((resolve) => {
    c.on('message', (topic, payload, packet) => {
      expect(packet.retain).toBe(true);
      got[topic] = payload.toString();
      if (Object.keys(got).length >= n) resolve();
    });
  });
  await c.subscribeAsync(filters, { qos: 1 });
  await all;
  return got;
}

describe('retained messages by exact topic', () => {
  beforeAll(async () => {
    const p = await client();
    await p.publishAsync('vigil/v1/gw-a/config', 'a1', { qos: 1, retain: true });
    await p.publishAsync('vigil/v1/gw-a/config', 'a2', { qos: 1, retain: true });
    await p.publishAsync('vigil/v1/gw-b/config', 'b1', { qos: 1, retain: true });
    await p.publishAsync('vigil/v1/gw-c/config', 'c1', { qos: 1, retain: true });
    await p.publishAsync('vigil/v1/gw-c/config', '', { qos: 1, retain: true });
    await p.publishAsync('vigil/v1/gw-a/status', 'online', { qos: 1, retain: true });
  });

  it('gives an exact filter the last retained message of its topic only', async () => {
    expect(await retainedFor(['vigil/v1/gw-a/config'], 1)).toEqual({ 'vigil/v1/gw-a/config': 'a2' });
    expect(await retainedFor(['vigil/v1/gw-a/config', 'vigil/v1/gw-b/config'], 2)).toEqual({
      'vigil/v1/gw-a/config': 'a2',
      'vigil/v1/gw-b/config': 'b1',
    });
  });

  it('gives nothing for a topic cleared by an empty retained payload, or never retained', async () => {
    // filters are answered in order: anything for gw-c or gw-d would arrive before gw-b's
    expect(await retainedFor(['vigil/v1/gw-c/config', 'vigil/v1/gw-d/config', 'vigil/v1/gw-b/config'], 1)).toEqual({
      'vigil/v1/gw-b/config': 'b1',
    });
  });

  it('still answers wildcard filters, alone or with exact ones', async () => {
    expect(await retainedFor(['vigil/v1/+/config'], 2)).toEqual({
      'vigil/v1/gw-a/config': 'a2',
      'vigil/v1/gw-b/config': 'b1',
    });
    expect(await retainedFor(['vigil/v1/gw-a/#', 'vigil/v1/gw-b/config'], 3)).toEqual({
      'vigil/v1/gw-a/config': 'a2',
      'vigil/v1/gw-a/status': 'online',
      'vigil/v1/gw-b/config': 'b1',
    });
  });
});
