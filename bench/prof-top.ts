/**
 * Summarises a V8 .cpuprofile (from `npm run bench -- <workload> --cpu-prof`): the top functions by
 * self time, and self time by file/package. Usage: node dist/bench/prof-top.js <file.cpuprofile> [N]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node dist/bench/prof-top.js <file.cpuprofile> [N]\n');
  process.exit(2);
}
const topN = Number(process.argv[3] ?? 30);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;

// Self time per node: the time deltas of the samples that landed in it.
const selfUs = new Map<number, number>();
const samples = prof.samples ?? [];
const deltas = prof.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));

const shortUrl = (url: string): string => {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
};
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
for (const n of prof.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  if (us === 0) continue;
  total += us;
  const f = n.callFrame;
  const where = shortUrl(f.url);
  const key = `${f.functionName || '(anonymous)'}  ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const pkg = where.startsWith('(') ? where : where.includes('/') && !where.startsWith('dist/') && !where.startsWith('node:') ? where.split('/')[0]! : where;
  byFile.set(pkg, (byFile.get(pkg) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s of samples\n\nTop ${topN} functions by self time:\n`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, topN)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write(`\nSelf time by file or package:\n`);
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${pct(us)}  ${k}\n`);
