import { join } from 'node:path';
import { bleAddressSchema } from '../../contract';
import { intArg, schemaArg } from '../../contract/cli';
import { printJson, type RegisterCommands } from './context';

const address = (v: string) => schemaArg(bleAddressSchema, 'BLE address')(v.toUpperCase());
const bufferFile = (dataDir: string) => join(dataDir, 'buffer.sqlite');

/**
 * Commands on the box's own database, next to a running gateway: buffer state and pairing.
 * pair/unpair write the database; the running gateway picks changes up within 1 s.
 */
export const registerLocal: RegisterCommands = (program, ctx) => {
  program
    .command('status')
    .description('print the reading buffer state (depth, in flight, oldest)')
    .action(async () => {
      const config = await ctx.config();
      const { ReadingBuffer } = await import('../buffer/reading-buffer');
      const buffer = new ReadingBuffer(bufferFile(config.dataDir));
      try {
        printJson(buffer.stats());
      } finally {
        buffer.close();
      }
    });

  const withPairing = async (fn: (store: import('../pairing/pairing-store').PairingStore) => void) => {
    const config = await ctx.config();
    const { PairingStore } = await import('../pairing/pairing-store');
    const store = new PairingStore(bufferFile(config.dataDir));
    try {
      fn(store);
    } finally {
      store.close();
    }
  };

  program
    .command('pair')
    .description('open the pairing window of the running gateway, or pair one device by address')
    .option('--seconds <n>', 'how long the pairing window stays open', intArg(0, 3600), 120)
    .option('--address <address>', 'pair this device now (no window needed)', address)
    .action((opts: { seconds: number; address?: string }) =>
      withPairing((store) => {
        if (opts.address) {
          printJson({ event: 'device.paired', address: opts.address, changed: store.pair(opts.address, 'cli') });
          return;
        }
        const until = Date.now() + opts.seconds * 1000;
        store.openWindow(until, 'cli');
        printJson({ event: 'pairing.window', openUntil: new Date(until).toISOString() });
      }),
    );

  program
    .command('unpair')
    .description('forget a paired device')
    .requiredOption('--address <address>', 'the device to forget', address)
    .action((opts: { address: string }) =>
      withPairing((store) => {
        printJson({ event: 'device.unpaired', address: opts.address, changed: store.unpair(opts.address) });
      }),
    );

  program
    .command('devices')
    .description('list the paired devices and the pairing window')
    .action(() =>
      withPairing((store) => {
        const until = store.windowOpenUntil();
        printJson({ devices: store.list(), pairingOpenUntil: until ? new Date(until).toISOString() : null });
      }),
    );
};
