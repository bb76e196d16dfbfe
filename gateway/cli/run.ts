import type { RegisterCommands } from './context';

/** `run` (the default command): enroll on first start, then run the box. */
export const registerRun: RegisterCommands = (program, ctx) => {
  program
    .command('run')
    .description('run the gateway (the default command); a new box first exchanges its printed enrollment code')
    .action(async () => {
      const { EnrollmentError, enrollIfNeeded } = await import('../enrollment/enroll');
      // first start of a new box: exchange the printed enrollment code (retried while the network comes up)
      for (let attempt = 1; ; attempt++) {
        try {
          if ((await enrollIfNeeded(ctx.source())) === 'enrolled')
            console.log(JSON.stringify({ event: 'gateway.enrolled' }));
          break;
        } catch (e) {
          if (!(e instanceof EnrollmentError) || e.code !== 'ENROLLMENT_HUB_UNREACHABLE' || attempt >= 20) throw e;
          console.error(`${e.code}: ${e.message}; retrying`);
          await new Promise((r) => setTimeout(r, Math.min(60_000, 1_000 * 2 ** attempt)));
        }
      }
      const config = await ctx.config();
      const { startGateway } = await import('../main');
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
      if (process.send && process.env.VIGIL_GATEWAY_SUPERVISED) {
        // under the update supervisor (gateway/update/supervisor.ts): say when this release is healthy
        const { reportHealthWhenReady } = await import('../update/self-check');
        reportHealthWhenReady(gw);
      }
    });
};
