/** Stopping a process once, on SIGTERM or SIGINT, shared by the primary and the worker processes. */
import type { Logger } from './log.js';

export interface Shutdown {
  /** Begins shutdown, as a signal would (once; later calls do nothing). */
  begin(reason: string): void;
}

/**
 * Stops the process once, on SIGTERM or SIGINT (or `begin`): runs `stop`, then exits 0, or 1 when
 * it failed.
 */
export function onShutdown(log: Logger, message: string, stop: () => Promise<unknown>): Shutdown {
  let stopping = false;
  const s: Shutdown = {
    begin(reason) {
      if (stopping) return;
      stopping = true;
      log.info({ reason }, message);
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
  };
  process.on('SIGTERM', () => s.begin('SIGTERM'));
  process.on('SIGINT', () => s.begin('SIGINT'));
  return s;
}
