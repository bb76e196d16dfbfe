import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Runs every bench in sequence (each its own process, so one's memory and sockets never skew the
 * next), passes each bench's one JSON line through to stdout, and appends it to --out
 * (default .data/bench/results.ndjson). Progress of the benches goes to stderr.
 *   npm run bench [-- --only hub-ingest,gateway-memory] [-- --out file]
 */
// multi-hub needs Mosquitto on 127.0.0.1:1883; influx-outage starts its own influxd on 18097
export const BENCHES = [
  'hub-ingest',
  'alert-latency',
  'reconnect-storm',
  'dashboard-queries',
  'cohort-board',
  'gateway-memory',
  'gateway-drain',
  'multi-hub',
  'influx-outage',
  'remeasure-reach',
] as const;

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = opt('only')?.split(',');
const unknown = only?.filter((b) => !(BENCHES as readonly string[]).includes(b)) ?? [];
if (unknown.length) {
  process.stderr.write(`ARGS_INVALID: unknown bench ${unknown.join(', ')}; benches: ${BENCHES.join(', ')}\n`);
  process.exit(2);
}
const out = opt('out') ?? '.data/bench/results.ndjson';
mkdirSync(dirname(out), { recursive: true });

let failed = 0;
for (const bench of BENCHES.filter((b) => !only || only.includes(b))) {
  const file = `bench/${bench}.ts`;
  if (!existsSync(file)) throw new Error(`missing ${file}`);
  process.stderr.write(`[run-all] ${bench}\n`);
  const lines: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.once('exit', (c) => resolve(c));
  });
  const figures = lines.filter((l) => l.startsWith('{'));
  if (code !== 0 || figures.length !== 1) {
    failed++;
    const line = JSON.stringify({ bench, error: `exit ${code}, ${figures.length} JSON lines` });
    process.stdout.write(`${line}\n`);
    appendFileSync(out, `${line}\n`);
    continue;
  }
  process.stdout.write(`${figures[0]}\n`);
  appendFileSync(out, `${figures[0]}\n`);
}
process.exitCode = failed ? 1 : 0;
