/**
 * `--workers N`: N processes on one host, this one (the primary) and N-1 forked with
 * node:cluster. They share the HTTP port through SO_REUSEPORT, which uWS sets on every listen
 * socket on Linux (unless LIBUS_LISTEN_EXCLUSIVE_PORT is passed): uWS does not listen through
 * Node's net module, so cluster's own handle sharing plays no part, each process simply binds the
 * same port and the kernel spreads new connections over them. All state is in Redis, so the
 * processes need nothing from each other but the metrics sum a scrape answers with
 * (cluster-metrics.ts); the primary resolves Redis once (starting the embedded server if needed)
 * and hands the URL and port to the workers in their environment.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './log.js';
import type { Shutdown } from './shutdown.js';

export interface SupervisorOptions {
  /** Workers to fork (the primary is not counted). */
  count: number;
  /** Environment added to each worker's (the resolved Redis URL, the HTTP port). */
  env: Record<string, string>;
  log: Logger;
}

export interface Supervisor {
  /** Stops restarting, sends every worker SIGTERM (SIGKILL after 10 s) and waits for them to exit. */
  stop(): Promise<void>;
}

/** Restarts allowed in any minute, over all workers, before a crashing worker is left down. */
const MAX_RESTARTS_PER_MINUTE = 5;
const RESTART_DELAY_MS = 1000;
const STOP_TIMEOUT_MS = 10_000;

/** Forks `count` workers and replaces one that exits unexpectedly (at most 5 times a minute). */
export function superviseWorkers(opts: SupervisorOptions): Supervisor {
  const { log } = opts;
  const children = new Set<Worker>();
  const restarts: number[] = [];
  let stopping = false;

  const fork = (): void => {
    const w = cluster.fork(opts.env);
    children.add(w);
    w.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready === true) log.info({ child: w.process.pid }, 'worker ready');
    });
    w.on('exit', (code, signal) => {
      children.delete(w);
      if (stopping) return;
      const now = Date.now();
      while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
        log.error({ child: w.process.pid, code, signal }, `worker exited; ${MAX_RESTARTS_PER_MINUTE} restarts in the last minute already, not restarting it`);
        return;
      }
      restarts.push(now);
      log.error({ child: w.process.pid, code, signal }, 'worker exited unexpectedly; restarting it in 1 s');
      setTimeout(() => {
        if (!stopping) fork();
      }, RESTART_DELAY_MS).unref();
    });
  };
  for (let i = 0; i < opts.count; i++) fork();

  return {
    async stop() {
      stopping = true;
      const exits = [...children].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
      for (const w of children) w.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const w of children) w.process.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await Promise.all(exits);
      clearTimeout(timer);
    },
  };
}

/**
 * The worker's side: tells the primary it is serving, and shuts down when the primary is gone
 * (even by kill -9), so it does not linger holding the port.
 */
export function serveAsWorker(shutdown: Shutdown): void {
  process.on('disconnect', () => shutdown.begin('primary gone'));
  process.send?.({ ready: true, pid: process.pid });
}
