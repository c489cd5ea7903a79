/** DTM's retry timing rules (dtm-protocol.md §5.1). Intervals are seconds, as DTM stores them. */
import type { Config } from './config.js';
import type { TransOptions } from './types.js';

/**
 * The base ("reset") interval in seconds: the transaction's `retry_interval` if set, else its
 * `timeout_to_fail` when that is shorter than the configured retry interval, else the configured one.
 */
export function baseInterval(options: Pick<TransOptions, 'retry_interval' | 'timeout_to_fail'>, config: Pick<Config, 'retryIntervalMs'>): number {
  if (options.retry_interval > 0) return options.retry_interval;
  const configured = config.retryIntervalMs / 1000;
  if (options.timeout_to_fail > 0 && options.timeout_to_fail < configured) return options.timeout_to_fail;
  return configured;
}

/** What a processing round did to the schedule. */
export type CronMove = 'reset' | 'keep' | 'backoff';

/** The next interval in seconds for a move; backoff doubles without a cap, as DTM does. */
export function nextInterval(move: CronMove, current: number, base: number): number {
  switch (move) {
    case 'reset':
      return base;
    case 'keep':
      return current;
    case 'backoff':
      return current * 2;
    default:
      return move satisfies never;
  }
}

/** DTM's retry count for alerts: ⌊log2(interval / base)⌋. */
export function retryCountOf(interval: number, base: number): number {
  if (interval <= base) return 0;
  return Math.floor(Math.log2(interval / base));
}
