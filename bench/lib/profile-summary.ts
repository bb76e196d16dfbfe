import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by area (project file
 * folder or dependency package), so a bench's profile reads as "where a batch's time goes".
 *   npx tsx bench/lib/profile-summary.ts <file.cpuprofile> [--top 25]
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, ...rest] = process.argv.slice(2);
if (!file) throw new Error('USAGE: profile-summary <file.cpuprofile> [--top N]');
const top = Number(rest[rest.indexOf('--top') + 1] ?? 25) || 25;
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  const proj = /\/(hub|contract|gateway|drivers|simulators)\/(.*\/)?/.exec(url);
  if (proj) return `${proj[1]}/${(proj[2] ?? '').split('/')[0]}`;
  return url.replace(/^.*\//, '');
}

const fns = new Map<string, number>();
const areas = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules\/)?/, '')}:${f.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const a = area(f.url, f.functionName);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const idle = selfUs.get(p.nodes.find((n) => n.callFrame.functionName === '(idle)')?.id ?? -1) ?? 0;
const pct = (us: number) => `${((us / total) * 100).toFixed(1)}%`;
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${pct(us).padStart(6)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
};
process.stdout.write(
  `wall ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, sampled ${(total / 1e6).toFixed(1)} s, idle ${pct(idle)}, busy ${((total - idle) / 1e6).toFixed(1)} s\n`,
);
print('self time by area', areas);
print('self time by function', fns);
