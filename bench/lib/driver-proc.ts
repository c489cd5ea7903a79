/**
 * The load driver as seen from run.ts: forks driver.ts, starts it with a config, opens and closes
 * the window, and prints its ticks as progress lines with the CPU share of each process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { say, stopChild, waitMessage } from './children.js';
import type { DriverConfig, DriverResult, DriverTick } from './ipc.js';
import { cpuUs, machineCpu } from './proc.js';

const DRIVER = fileURLToPath(new URL('../driver.js', import.meta.url));

/** Per role CPU µs, and machine-wide jiffies (to see whether the box is saturated). */
export type CpuSnapshot = Record<string, number>;

export interface CpuMeter {
  now(this: void): CpuSnapshot;
  /** The machine's idle or steal share between two snapshots, % of all cores. */
  machinePct(this: void, a: CpuSnapshot, b: CpuSnapshot, k: 'mIdle' | 'mSteal'): number;
}

/** The CPU meter of a run: its process roles (coordinator, redis, stub, driver) → pids. */
export function cpuMeter(pids: Record<string, () => number[]>): CpuMeter {
  // The last figure seen per pid: a process that has exited (the burst's driver, once it has
  // answered) reads 0 in /proc, and its CPU must not go backwards.
  const seen = new Map<number, number>();
  const used = (pid: number): number => {
    const v = Math.max(cpuUs(pid), seen.get(pid) ?? 0);
    seen.set(pid, v);
    return v;
  };
  return {
    now() {
      const m = machineCpu();
      return {
        ...Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, p().reduce((s, pid) => s + used(pid), 0)])),
        mBusy: m.busy,
        mIdle: m.idle,
        mSteal: m.steal,
      };
    },
    machinePct(a, b, k) {
      const all = b['mBusy']! - a['mBusy']! + (b['mIdle']! - a['mIdle']!) + (b['mSteal']! - a['mSteal']!);
      return all > 0 ? (100 * (b[k]! - a[k]!)) / all : 0;
    },
  };
}

export interface DriverProc {
  pid: number;
  /** What the progress lines call the current phase. */
  phase: string;
  mark(): void;
  /** Closes the window and resolves with the result once in-flight transactions are done. */
  stop(timeoutMs?: number): Promise<DriverResult>;
  kill(): Promise<void>;
}

/** Forks the driver and waits until it is ready (nothing starts until `start`). */
export async function forkDriver(): Promise<ChildProcess> {
  const child = fork(DRIVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  await waitMessage(child, 'ready', 10_000, 'the driver');
  return child;
}

/** Starts a forked driver with `cfg`; each tick prints a progress line. */
export function startDriver(child: ChildProcess, cfg: DriverConfig, tag: string, meter: CpuMeter): DriverProc {
  const proc: DriverProc = {
    pid: child.pid!,
    phase: 'warm-up',
    mark: () => child.send({ type: 'mark' }),
    async stop(timeoutMs = 30_000) {
      const p = waitMessage<DriverResult>(child, 'result', timeoutMs, 'the driver');
      child.send({ type: 'stop' });
      proc.phase = 'stop';
      return p;
    },
    kill: () => stopChild(child, 3000),
  };
  let last = { t: performance.now(), v: meter.now() };
  child.on('message', (raw: unknown) => {
    const m = raw as DriverTick;
    if (m.type !== 'tick') return;
    const now = { t: performance.now(), v: meter.now() };
    const dt = (now.t - last.t) * 1000;
    const prev = last;
    const pct = (k: string): string => String(Math.round((100 * ((now.v[k] ?? 0) - (prev.v[k] ?? 0))) / dt)).padStart(3);
    last = now;
    const offered = cfg.open !== undefined ? `started ${String(m.started).padStart(6)}/s  in flight ${String(m.inflight).padStart(6)}  ` : '';
    say(
      `${tag} ${proc.phase.padEnd(7)} ${m.elapsedS.toFixed(0).padStart(3)} s  ${offered}${String(m.done).padStart(6)} tx/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  ` +
        `errors ${m.errors}  cpu% coord ${pct('coordinator')} redis ${pct('redis')} stub ${pct('stub')} driver ${pct('driver')}  machine idle ${Math.round(meter.machinePct(prev.v, now.v, 'mIdle'))}%`,
    );
  });
  child.send({ type: 'start', config: cfg });
  return proc;
}
