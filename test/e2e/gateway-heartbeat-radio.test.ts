import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicFor } from '../../contract';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { Thermometer, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { until } from '../support/wait';

/**
 * The hub learns that a box has gone deaf from its heartbeat's `radio` flag (contract/messages.ts,
 * set by gateway/ble/radio-supervisor.ts). Seen from the broker, as the hub sees it: a gateway
 * process on the virtual BlueZ, its heartbeat topic subscribed on the real broker (Mosquitto,
 * 127.0.0.1:1883); bluetoothd is killed, then comes back. The periodic heartbeat is set to a
 * minute: the flag must arrive when the radio changes, not at the next tick.
 */
const GW = `gw-hb-radio-${randomBytes(3).toString('hex')}`;

interface Heartbeat {
  gatewayId: string;
  radio?: string;
  at: string;
}

describe('heartbeat radio flag over MQTT (gateway process, virtual BlueZ, Mosquitto)', () => {
  let vb: VirtualBluezHandle;
  let gateway: ServiceProcess | undefined;
  let client: mqtt.MqttClient;
  let dir: string;
  const beats: { at: number; hb: Heartbeat }[] = [];
  const radioSince = (from: number) => beats.filter((b) => b.at >= from).map((b) => b.hb.radio);

  beforeAll(async () => {
    vb = await startVirtualBluez({
      peripherals: [new Thermometer({ address: 'A4:C1:38:0D:00:01', name: 'Thermometer' })],
      adapter: { advertiseIntervalMs: 200 },
    });
    client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${GW}-observer`, reconnectPeriod: 500 });
    client.on('message', (_topic, payload) => {
      beats.push({ at: Date.now(), hb: JSON.parse(payload.toString('utf8')) as Heartbeat });
    });
    await client.subscribeAsync(topicFor(GW, 'heartbeat'), { qos: 0 });
    dir = mkdtempSync(join(tmpdir(), 'vigil-hb-radio-'));
    writeFileSync(
      join(dir, 'gateway.yaml'),
      JSON.stringify({
        gatewayId: GW,
        dataDir: join(dir, 'data'),
        timeZone: 'UTC',
        logLevel: 'info',
        mqtt: { url: 'mqtt://127.0.0.1:1883', password: 'not-checked-by-this-broker', heartbeatIntervalMs: 60_000 },
        ble: { connectTimeoutMs: 5_000, settleMs: 20, radioRecoveryDeadlineMs: 30_000 },
      }),
    );
    gateway = await startService('gateway', 'gateway/cli.ts', {
      args: ['--config', join(dir, 'gateway.yaml')],
      readyEvent: 'gateway.ready',
      env: vb.env,
    });
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await client.endAsync();
    await vb.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('radio goes to "recovering" when bluetoothd is killed and back to "ok" when it restarts, at once', async () => {
    await until('the gateway on the broker', () =>
      Promise.resolve(gateway?.lines.some((l) => l.includes('"code":"UPLINK_CONNECTED"')) ? true : undefined),
    );
    await until('discovery running', () => Promise.resolve(vb.bluez.adapter.discovering ? true : undefined));
    const killedAt = Date.now();
    await vb.killBluetoothd();
    await until(
      'radio: recovering on the broker',
      () => Promise.resolve(radioSince(killedAt).includes('recovering') ? true : undefined),
      15_000,
    );
    // well before the next periodic heartbeat (a minute): the change itself sent it
    expect(Date.now() - killedAt).toBeLessThan(30_000);

    const restartedAt = Date.now();
    await vb.startBluetoothd();
    await until(
      'radio: ok again on the broker',
      () => Promise.resolve(radioSince(restartedAt).includes('ok') ? true : undefined),
      20_000,
    );
    expect(Date.now() - restartedAt).toBeLessThan(30_000);
    expect(beats.every((b) => b.hb.gatewayId === GW)).toBe(true);
    expect(gateway?.child.exitCode).toBeNull();
    expect(gateway?.lines.some((l) => l.includes('"code":"RADIO_RECOVERED"'))).toBe(true);
  }, 90_000);
});
