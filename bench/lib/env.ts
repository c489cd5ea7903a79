/** The environment recorded with every result. */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export function gitRevision(cwd: string): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${rev}-dirty` : rev;
  } catch {
    return 'unknown';
  }
}

export function cpuInfo(): { count: number; model: string } {
  const c = cpus();
  return { count: c.length, model: c[0]?.model.trim() ?? 'unknown' };
}
