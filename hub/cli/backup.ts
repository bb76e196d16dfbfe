import { printJson, type RegisterCommands } from './context';

const rpcOption = [
  '--influx-rpc <host:port>',
  "influxd's backup/restore (RPC) address; default <InfluxDB host>:8088",
] as const;

/** `backup` and `restore` of PostgreSQL and InfluxDB (hub/admin/backup.ts; docs/operations.md). */
export const registerBackup: RegisterCommands = (program, ctx) => {
  program
    .command('backup')
    .description('back up PostgreSQL (pg_dump) and InfluxDB (influxd backup -portable) into a new directory')
    .argument('<dir>', 'a new or empty directory')
    .option(...rpcOption)
    .action(async (dir: string, opts: { influxRpc?: string }) => {
      const { backupStores } = await import('../admin/backup');
      const manifest = await backupStores(await ctx.config(), dir, opts);
      printJson({ event: 'backup.done', dir, ...manifest });
    });

  program
    .command('restore')
    .description(
      'restore a backup into empty stores: a PostgreSQL database without tables, an absent InfluxDB database',
    )
    .argument('<dir>', 'a directory written by `backup`')
    .option(...rpcOption)
    .action(async (dir: string, opts: { influxRpc?: string }) => {
      const { restoreStores } = await import('../admin/backup');
      const manifest = await restoreStores(await ctx.config(), dir, opts);
      printJson({ event: 'restore.done', dir, from: manifest });
    });
};
