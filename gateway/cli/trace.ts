import { join } from 'node:path';
import { bleAddressSchema } from '../../contract';
import { intArg, schemaArg } from '../../contract/cli';
import { uuidSchema } from '../../drivers/sdk/uuid';
import { printJson, type RegisterCommands } from './context';

const address = (v: string, prev: string[] = []) => [...prev, schemaArg(bleAddressSchema, 'BLE address')(v)];
const uuid = (v: string, prev: string[] = []) => [...prev, schemaArg(uuidSchema, 'characteristic UUID')(v)];

/**
 * `trace`: runs the gateway as `run` does (readings still reach the hub) and records every
 * advertisement, connect, read, write, subscription and notified value of its BLE transport to a
 * trace file (docs/capture-and-replay.md). Stop the service first: one process owns the radio.
 */
export const registerTrace: RegisterCommands = (program, ctx) => {
  program
    .command('trace')
    .description('run the gateway and record its BLE traffic to a trace file (pseudonymised addresses)')
    .requiredOption('--out <file>', 'trace file to create (JSON lines; an existing file is never overwritten)')
    .option('--seconds <n>', 'stop after this many seconds (default: until SIGINT/SIGTERM)', intArg(1, 86_400))
    .option('--device <address>', 'trace only this device (repeatable; default: every device heard)', address)
    .option('--redact <uuid>', 'a characteristic whose values are secret (repeatable; 2A9F always is)', uuid)
    .option('--all-advertisements', 'write every advertisement report, not only changes (large files)')
    .option('--note <text>', 'what the trace shows: device model, firmware, what was done (no personal data)')
    .action(
      async (opts: {
        out: string;
        seconds?: number;
        device?: string[];
        redact?: string[];
        allAdvertisements?: boolean;
        note?: string;
      }) => {
        const config = await ctx.config();
        const { createTransport, startGateway } = await import('../main');
        const { TracingTransport, traceFileSink } = await import('../capture/tracing-transport');
        const { Pseudonymizer } = await import('../capture/pseudonym');
        const transport = new TracingTransport(createTransport(config), {
          sink: traceFileSink(opts.out, opts.note),
          // the box's key: the same device has the same pseudonym in every trace from this box
          pseudonyms: Pseudonymizer.fromKeyFile(join(config.dataDir, 'trace-pseudonym.key')),
          ...(opts.device ? { devices: opts.device } : {}),
          ...(opts.redact ? { redact: opts.redact } : {}),
          ...(opts.allAdvertisements ? { advertisementRepeatMs: 0 } : {}),
        });
        const gw = await startGateway(config, { transport });
        printJson({ event: 'trace.started', file: opts.out });
        let stopping = false;
        const stop = async (reason: string) => {
          if (stopping) return;
          stopping = true;
          setTimeout(() => process.exit(1), 5_000).unref();
          await gw.stop();
          printJson({ event: 'trace.stopped', file: opts.out, reason });
          process.exit(0);
        };
        if (opts.seconds) setTimeout(() => void stop('time'), opts.seconds * 1000);
        process.on('SIGINT', () => void stop('SIGINT'));
        process.on('SIGTERM', () => void stop('SIGTERM'));
      },
    );
};
