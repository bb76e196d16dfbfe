import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startVirtualBluez } from './index';
import { loadScenario } from './scenario';

/**
 * tsx simulators/virtual-bluez/cli.ts [scenario.yaml]
 * Starts a private dbus-daemon and the virtual BlueZ with the scenario's devices, prints the
 * DBUS_SYSTEM_BUS_ADDRESS to use, and runs until SIGINT/SIGTERM (or stdin closes with --stdin).
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const file =
    args.find((a) => !a.startsWith('--')) ?? join(dirname(fileURLToPath(import.meta.url)), 'scenarios', 'default.yaml');
  const { peripherals, adapter } = await loadScenario(file);
  const vb = await startVirtualBluez({ peripherals, adapter });
  process.stdout.write(`DBUS_SYSTEM_BUS_ADDRESS=${vb.address}\n`);
  process.stderr.write(`virtual BlueZ (org.bluez, hci0) with ${peripherals.length} devices from ${file}:\n`);
  for (const p of peripherals) process.stderr.write(`  ${p.address} ${p.name ?? ''} [${p.constructor.name}]\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await vb.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  if (args.includes('--stdin')) {
    process.stdin.resume();
    process.stdin.on('end', () => void stop());
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`virtual-bluez: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
