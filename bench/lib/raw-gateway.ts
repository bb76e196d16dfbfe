import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { WIRE_VERSION, topicFor, type Reading, type ReadingBatch } from '../../contract';

/** A bare gateway connection for benches that pace their own publishes (no backlog logic). */
export async function connectGateway(url: string, gatewayId: string, password: string): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    clientId: gatewayId,
    username: gatewayId,
    password,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    // a socket the hub closes before login (its cap on pending logins per address, which a bench
    // connecting 100 boxes from 127.0.0.1 at once can meet) is retried by mqtt.js; a refusal is not
    client.on('error', (e: Error & { code?: string | number }) => {
      if (!TRANSIENT.has(String(e.code))) reject(e);
    });
  });
  return client;
}

/** socket errors mqtt.js recovers from by reconnecting (reconnectPeriod) */
const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED']);

export function batchOf(gatewayId: string, readings: Reading[]): string {
  const msg: ReadingBatch = {
    v: WIRE_VERSION,
    gatewayId,
    batchId: randomBytes(8).toString('hex'),
    sentAt: new Date().toISOString(),
    readings,
  };
  return JSON.stringify(msg);
}

export function publishBatch(client: MqttClient, gatewayId: string, readings: Reading[]): Promise<unknown> {
  return client.publishAsync(topicFor(gatewayId, 'readings'), batchOf(gatewayId, readings), { qos: 1 });
}
