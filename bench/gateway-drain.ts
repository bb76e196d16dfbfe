import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { z } from 'zod';
import { readingBatchSchema, readingId, topicFor, type Reading, type Receipt } from '../contract';
import { ReadingBuffer } from '../gateway';
import { GATEWAY_NODE_FLAGS } from '../deploy/gateway-runtime';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, report } from './lib/env';

/**
 * Drain rate of the gateway's buffer after an outage: --queued readings (default 100 000) are in
 * the SQLite buffer when the gateway process starts (the esbuild bundle a box runs,
 * deploy/build-gateway.sh); a stand-in hub on an aedes broker receipts each batch at once, so the
 * figure is the gateway's (claim, publish QoS 1, receipt, delete). Also the buffer alone
 * (nextBatch + applyReceipt in a loop, no network), the ceiling the process can reach.
 *   npx tsx bench/gateway-drain.ts [--queued 100000] [--batch 200]
 */
const args = benchArgs(z.object({ queued: int(1000, 1_000_000, 100_000), batch: int(1, 500, 200) }));
const GW = 'gw-bench-drain-01';
const device = { address: 'A4:C1:38:B1:00:01', driver: 'sig-glucose' };

function backlog(n: number): Reading[] {
  const t0 = Date.UTC(2026, 0, 1);
  return Array.from({ length: n }, (_, i) => {
    const deviceTime = new Date(t0 + i * 60_000).toISOString().slice(0, 19);
    return {
      id: readingId({ device, metric: 'glucose', deviceTime }),
      gatewayId: GW,
      device,
      metric: 'glucose',
      value: 5 + (i % 100) / 100,
      unit: 'mmol/L',
      measuredAt: `${deviceTime}.000Z`,
      deviceTime,
      flags: [],
    };
  });
}

function fill(path: string, readings: Reading[]): number {
  const b = new ReadingBuffer(path);
  for (let i = 0; i < readings.length; i += 5000) b.enqueue(readings.slice(i, i + 5000));
  const depth = b.stats().depth;
  b.close();
  return depth;
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-drain-'));
const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
try {
  const readings = backlog(args.queued);

  // 1. the buffer alone
  const alone = join(dir, 'alone.sqlite');
  fill(alone, readings);
  const b = new ReadingBuffer(alone);
  const t1 = performance.now();
  for (let batch = b.nextBatch(args.batch, 0); batch; batch = b.nextBatch(args.batch, 0)) {
    b.applyReceipt({
      v: 1,
      batchId: batch.batchId,
      results: batch.readings.map((r) => ({ id: r.id, outcome: 'stored' as const })),
    });
  }
  const bufferOnlyPerS = Math.round(args.queued / ((performance.now() - t1) / 1000));
  b.close();

  // 2. the gateway process
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  let receipted = 0;
  let firstAt = 0;
  const hub = await mqtt.connectAsync(url, { clientId: 'stub-hub', protocolVersion: 4 });
  await hub.subscribeAsync('vigil/v1/+/readings', { qos: 1 });
  hub.on('message', (_t, payload) => {
    const batch = readingBatchSchema.parse(JSON.parse(payload.toString('utf8')));
    firstAt ||= Date.now();
    receipted += batch.readings.length;
    const receipt: Receipt = {
      v: 1,
      batchId: batch.batchId,
      results: (batch.readings as { id: string }[]).map((r) => ({ id: r.id, outcome: 'stored' as const })),
    };
    hub.publish(topicFor(batch.gatewayId, 'receipts'), JSON.stringify(receipt), { qos: 1 });
  });
  const dataDir = join(dir, 'data');
  // the box's V8 flags (deploy/vigil-gateway.service); VIGIL_GATEWAY_NODE_FLAGS compares others
  const BOX_NODE_FLAGS = process.env.VIGIL_GATEWAY_NODE_FLAGS?.split(' ').filter(Boolean) ?? [...GATEWAY_NODE_FLAGS];
  const depth = fill(join(dataDir, 'buffer.sqlite'), readings);
  writeFileSync(
    join(dir, 'gateway.yaml'),
    JSON.stringify({
      gatewayId: GW,
      dataDir,
      timeZone: 'UTC',
      logLevel: 'warn',
      mqtt: { url, password: 'bench', batchSize: args.batch },
    }),
  );
  execFileSync('sh', ['deploy/build-gateway.sh', '.data/tmp/gateway-dist'], { stdio: 'ignore' });
  log(`gateway-drain: ${depth} queued readings`);
  const child = spawn(
    process.execPath,
    [...BOX_NODE_FLAGS, '.data/tmp/gateway-dist/gateway.mjs', '--config', join(dir, 'gateway.yaml')],
    {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  createInterface({ input: child.stdout }).on('line', () => undefined);
  const deadline = Date.now() + 600_000;
  while (receipted < depth && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const drainS = (Date.now() - firstAt) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const after = new ReadingBuffer(join(dataDir, 'buffer.sqlite'));
  const left = after.stats().depth;
  after.close();
  await hub.endAsync(true);
  report('gateway-drain', {
    queued: depth,
    drainReadingsPerSecond: Math.round(depth / drainS),
    drainS,
    leftInBuffer: left,
    bufferOnlyReadingsPerSecond: bufferOnlyPerS,
    batchSize: args.batch,
    maxInFlightBatches: 4,
    nodeFlags: BOX_NODE_FLAGS.join(' '),
    drainedTo: 'aedes broker + stand-in hub receipting each batch at once (gateway-bound figure)',
    loadAverage1m: loadAverage(),
  });
} finally {
  await new Promise<void>((r) => aedes.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
}
