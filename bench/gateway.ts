import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import YAML from 'yaml';
import { z } from 'zod';
import { readingBatchSchema, topicFor, type Receipt } from '../contract';
import { ReadingBuffer } from '../gateway/buffer/reading-buffer';
import { startService } from '../scripts/lib/processes';
import { householdBacklog } from '../simulators/fleet/backlog';
import { startVirtualBluez } from '../simulators/virtual-bluez';
import { buildPeripherals, type ScenarioInput } from '../simulators/virtual-bluez/scenario';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, report } from './lib/env';

/**
 * The home gateway process (gateway/cli.ts, real node-ble backend on a virtual BlueZ):
 *  - resident memory with six devices (cuff, scale, thermometer, oximeter, glucose meter,
 *    tracker of simulators/virtual-bluez/scenarios/default.yaml), sampled once all six have
 *    delivered their records;
 *  - buffer drain rate: --buffered readings already in its SQLite buffer (a box back online),
 *    flushed to a broker whose "hub" receipts each batch at once, so the figure is the gateway's.
 *   npx tsx bench/gateway.ts [--buffered 20000] [--sample-s 15]
 */
const args = benchArgs(z.object({ buffered: int(1, 1_000_000, 20_000), 'sample-s': int(1, 600, 15) }));
const GW = 'gw-bench-0001';

/** A broker plus a stand-in hub that receipts every batch as stored (no storage behind it). */
async function receiptingBroker(): Promise<{ url: string; receipted: Set<string>; devicesSeen: Set<string>; firstAt: { t: number }; stop(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const url = `mqtt://127.0.0.1:${port}`;
  const receipted = new Set<string>();
  const devicesSeen = new Set<string>();
  const firstAt = { t: 0 };
  const hub = await mqtt.connectAsync(url, { clientId: 'stub-hub', protocolVersion: 4 });
  await hub.subscribeAsync('vigil/v1/+/readings', { qos: 1 });
  hub.on('message', (_topic, payload) => {
    const b = readingBatchSchema.parse(JSON.parse(payload.toString('utf8')));
    if (receipted.size === 0) firstAt.t = Date.now();
    const results = (b.readings as { id: string; device: { address: string } }[]).map((r) => {
      receipted.add(r.id);
      devicesSeen.add(r.device.address);
      return { id: r.id, outcome: 'stored' as const };
    });
    const receipt: Receipt = { v: 1, batchId: b.batchId, results };
    hub.publish(topicFor(b.gatewayId, 'receipts'), JSON.stringify(receipt), { qos: 1 });
  });
  return {
    url,
    receipted,
    devicesSeen,
    firstAt,
    stop: async () => {
      await hub.endAsync(true);
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function rssMiB(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 102.4) / 10, hwm: Math.round(kb('VmHWM') / 102.4) / 10 };
}

const until = async (what: string, ok: () => boolean, timeoutMs: number): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const scenario = YAML.parse(readFileSync('simulators/virtual-bluez/scenarios/default.yaml', 'utf8')) as ScenarioInput;
scenario.devices = scenario.devices.filter((d) => d.kind !== 'advertising-scale');
const { peripherals, adapter } = buildPeripherals(scenario);
const addresses = peripherals.map((p) => p.address);
const vb = await startVirtualBluez({ peripherals, adapter: { ...adapter, advertiseIntervalMs: 300 } });
const broker = await receiptingBroker();
const dirs: string[] = [];
const env = (dataDir: string, devices: string[]) => ({
  ...vb.env,
  VIGIL_GATEWAY_ID: GW,
  VIGIL_GATEWAY_DATA_DIR: dataDir,
  VIGIL_GATEWAY_TZ: 'UTC',
  VIGIL_GATEWAY_MQTT_URL: broker.url,
  VIGIL_GATEWAY_PASSWORD: 'bench',
  VIGIL_GATEWAY_DEVICES: devices.join(','),
  VIGIL_LOG_LEVEL: 'warn',
});
try {
  // 1. six devices
  const memDir = mkdtempSync(join(tmpdir(), 'vigil-bench-gw-'));
  dirs.push(memDir);
  log(`gateway: six devices (${addresses.join(', ')})`);
  const t0 = Date.now();
  let gw = await startService('gateway', 'gateway/cli.ts', { readyEvent: 'gateway.ready', env: env(memDir, addresses) });
  await until('readings from all six devices', () => addresses.every((a) => broker.devicesSeen.has(a)), 120_000);
  const allDelivered = (Date.now() - t0) / 1000;
  const samples: number[] = [];
  for (let i = 0; i < args['sample-s']; i++) {
    samples.push((await rssMiB(gw.child.pid!)).rss);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const mem = await rssMiB(gw.child.pid!);
  await gw.stop();
  samples.sort((a, b) => a - b);

  // 2. buffer drain
  const drainDir = mkdtempSync(join(tmpdir(), 'vigil-bench-gw-'));
  dirs.push(drainDir);
  const backlog = householdBacklog({ prefix: 'gw-bench', index: 1, count: args.buffered, seed: 1, scenario: 'stable-hypertensive' }).readings.map((r) => ({ ...r, gatewayId: GW }));
  const buffer = new ReadingBuffer(join(drainDir, 'buffer.sqlite'));
  for (let i = 0; i < backlog.length; i += 1000) buffer.enqueue(backlog.slice(i, i + 1000));
  const depth = buffer.stats().depth;
  buffer.close();
  broker.receipted.clear();
  log(`gateway: draining ${depth} buffered readings`);
  gw = await startService('gateway', 'gateway/cli.ts', { readyEvent: 'gateway.ready', env: env(drainDir, []) });
  await until('the buffer drained', () => broker.receipted.size >= depth, 600_000);
  // from the first batch the broker saw (process start and connect excluded) to the last receipt
  const drainS = (Date.now() - broker.firstAt.t) / 1000;
  const drainHwm = (await rssMiB(gw.child.pid!)).hwm;
  await gw.stop();
  const after = new ReadingBuffer(join(drainDir, 'buffer.sqlite'));
  const left = after.stats().depth;
  after.close();

  report('gateway', {
    rssMiBSixDevices: samples[Math.floor(samples.length / 2)],
    rssMiBSixDevicesMax: samples.at(-1),
    peakRssMiBSixDevices: mem.hwm,
    devices: addresses.length,
    allSixDeliveredS: allDelivered,
    drainReadingsPerSecond: Math.round(depth / drainS),
    drainS,
    buffered: depth,
    leftInBuffer: left,
    peakRssMiBDuringDrain: drainHwm,
    drainedTo: 'aedes broker + stand-in hub receipting each batch at once (gateway-bound figure; the hub-bound one is bench/hub-ingest.ts)',
    batchSize: 200,
    maxInFlightBatches: 4,
    loadAverage1m: loadAverage(),
  });
} finally {
  await broker.stop();
  await vb.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
