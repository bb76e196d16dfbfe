import type { RegisterCommands } from './context';

/** `run` (the default command) and `migrate`. */
export const registerRun: RegisterCommands = (program, ctx) => {
  program
    .command('run')
    .description('run the hub: embedded MQTT broker, ingest, rules, API (the default command)')
    .action(async () => {
      const config = await ctx.config();
      const { startHub } = await import('../main');
      const hub = await startHub(config);
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        hub.log.info({ signal }, 'hub stopping');
        // a store or a peer that no longer answers must not keep the process alive (systemd, compose)
        setTimeout(() => {
          hub.log.warn({ code: 'SHUTDOWN_TIMEOUT' }, 'hub stop took too long; exiting');
          process.exit(1);
        }, 10_000).unref();
        await hub.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void shutdown('SIGINT'));
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      // machine-readable line for supervisors and tests
      console.log(JSON.stringify({ event: 'hub.ready', httpUrl: hub.httpUrl, mqttUrl: hub.mqttUrl }));
    });

  program
    .command('migrate')
    .description('apply the PostgreSQL migrations and exit')
    .action(() => ctx.withPool(() => Promise.resolve()));
};
