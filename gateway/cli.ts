#!/usr/bin/env tsx
/**
 * Gateway command line.
 *   vigil-gateway [--config gateway.yaml]    run the gateway (config from file and VIGIL_* env)
 *   vigil-gateway status [--config ...]      print the buffer state (depth, in flight, oldest)
 *   vigil-gateway pair [--seconds 120]       open the pairing window of the running gateway
 *   vigil-gateway pair --address AA:..:FF    pair one device by address (no window needed)
 *   vigil-gateway unpair --address AA:..:FF  forget a device
 *   vigil-gateway devices                    list the paired devices
 * pair/unpair/devices write the gateway's database; the running gateway picks changes up within 1 s.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ReadingBuffer } from './buffer/reading-buffer';
import { GatewayConfigError, loadGatewayConfig } from './config/load';
import { EnrollmentError, enrollIfNeeded } from './enrollment/enroll';
import { startGateway } from './main';
import { PairingStore } from './pairing/pairing-store';
import { bleAddressSchema } from '../contract';
import { errorCode, errorMessage } from '../contract/errors';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, seconds: { type: 'string' }, address: { type: 'string' } },
    allowPositionals: true,
  });
  const [command] = positionals;
  const source = values.config ? { file: values.config } : {};
  if (!command || command === 'run') {
    // first start of a new box: exchange the printed enrollment code (retried while the network comes up)
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await enrollIfNeeded(source)) === 'enrolled') console.log(JSON.stringify({ event: 'gateway.enrolled' }));
        break;
      } catch (e) {
        if (!(e instanceof EnrollmentError) || e.code !== 'ENROLLMENT_HUB_UNREACHABLE' || attempt >= 20) throw e;
        console.error(`${e.code}: ${e.message}; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(60_000, 1_000 * 2 ** attempt)));
      }
    }
  }
  const config = loadGatewayConfig(source);
  if (command === 'status') {
    const buffer = new ReadingBuffer(join(config.dataDir, 'buffer.sqlite'));
    console.log(JSON.stringify(buffer.stats()));
    buffer.close();
    return;
  }
  if (command === 'pair' || command === 'unpair' || command === 'devices') {
    const store = new PairingStore(join(config.dataDir, 'buffer.sqlite'));
    try {
      if (command === 'devices') {
        const until = store.windowOpenUntil();
        console.log(
          JSON.stringify({ devices: store.list(), pairingOpenUntil: until ? new Date(until).toISOString() : null }),
        );
      } else if (values.address) {
        const parsed = bleAddressSchema.safeParse(values.address.toUpperCase());
        if (!parsed.success)
          throw Object.assign(new Error(`--address: not a BLE address: ${values.address}`), { code: 'USAGE' });
        const changed = command === 'pair' ? store.pair(parsed.data, 'cli') : store.unpair(parsed.data);
        console.log(
          JSON.stringify({
            event: command === 'pair' ? 'device.paired' : 'device.unpaired',
            address: parsed.data,
            changed,
          }),
        );
      } else if (command === 'pair') {
        const seconds = Number(values.seconds ?? 120);
        if (!Number.isInteger(seconds) || seconds < 0 || seconds > 3600)
          throw Object.assign(new Error('--seconds: an integer from 0 to 3600'), { code: 'USAGE' });
        const until = Date.now() + seconds * 1000;
        store.openWindow(until, 'cli');
        console.log(JSON.stringify({ event: 'pairing.window', openUntil: new Date(until).toISOString() }));
      } else throw Object.assign(new Error('unpair needs --address'), { code: 'USAGE' });
    } finally {
      store.close();
    }
    return;
  }
  if (command && command !== 'run') throw Object.assign(new Error(`unknown command ${command}`), { code: 'USAGE' });
  const gw = await startGateway(config);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    gw.log.info({ signal }, 'gateway stopping');
    // a D-Bus or broker peer that no longer answers must not keep the process alive; everything
    // accepted is already committed in the SQLite buffer
    setTimeout(() => {
      gw.log.warn({ code: 'SHUTDOWN_TIMEOUT' }, 'gateway stop took too long; exiting');
      process.exit(1);
    }, 5_000).unref();
    await gw.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  console.log(JSON.stringify({ event: 'gateway.ready', gatewayId: config.gatewayId }));
}

main().catch((e: unknown) => {
  const code =
    e instanceof GatewayConfigError || e instanceof EnrollmentError ? e.code : (errorCode(e) ?? 'GATEWAY_START_FAILED');
  console.error(`${code}: ${errorMessage(e)}`);
  // 2: a configuration the box cannot fix by restarting (systemd RestartPreventExitStatus=2)
  process.exit(e instanceof GatewayConfigError || code === 'USAGE' || code === 'ENROLLMENT_CODE_INVALID' ? 2 : 1);
});
