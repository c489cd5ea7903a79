/** Process CPU time from /proc (Linux): utime + stime, in µs (CLK_TCK is 100 on Linux). */
import { readFileSync } from 'node:fs';

export const CLK_TCK = 100;

/** CPU µs used so far by `pid` (0 when it is gone). */
export function cpuUs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1e6) / CLK_TCK;
}

/** Direct children of `pid` (the coordinator's cluster workers). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Sum of cpuUs over a set of pids. */
export function cpuUsOf(pids: readonly number[]): number {
  let s = 0;
  for (const p of pids) s += cpuUs(p);
  return s;
}

/** Machine-wide CPU jiffies from the first line of /proc/stat: busy, idle (idle + iowait) and steal. */
export function machineCpu(): { busy: number; idle: number; steal: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
  } catch {
    return { busy: 0, idle: 0, steal: 0 };
  }
}

/** A `kB` field of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 when the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
