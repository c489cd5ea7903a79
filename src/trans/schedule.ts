/**
 * When a transaction is due next: the one place for the timing rules (dtm-protocol.md §5). The
 * base interval and backoff are DTM's; a fresh or claimed transaction is leased; a prepared one
 * waits for its deadline or its next interval; a round's outcome moves the interval.
 * Intervals are seconds, as DTM stores them; times are ms.
 */
import type { Config } from '../config.js';
import type { TransOptions } from '../types.js';

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

/** The move a round's branch outcomes call for: any error backs off, ONGOING keeps, success resets. */
export function moveAfter(outcomes: { sawError: boolean; sawOngoing: boolean; sawSuccess: boolean }): CronMove {
  if (outcomes.sawError) return 'backoff';
  if (outcomes.sawOngoing) return 'keep';
  return outcomes.sawSuccess ? 'reset' : 'keep';
}

/** DTM's retry count for alerts: ⌊log2(interval / base)⌋. */
export function retryCountOf(interval: number, base: number): number {
  if (interval <= base) return 0;
  return Math.floor(Math.log2(interval / base));
}

/**
 * How long a claim (or a fresh submit) keeps other processes away: at least the retry interval,
 * and long enough for one round (request timeout + 2 s budget + 1 s margin) so two processes
 * never drive one transaction at once while its holder is alive.
 */
export function leaseMs(config: Pick<Config, 'retryIntervalMs' | 'requestTimeoutMs'>): number {
  return Math.max(config.retryIntervalMs, config.requestTimeoutMs + 3000);
}

/**
 * How a prepared transaction waits: for its deadline (msg check-back, TCC/XA timeout), or one
 * interval at a time (a workflow's resume call).
 */
export type PreparedWait = 'deadline' | 'interval';

/**
 * The first schedule of a new transaction. A submitted one is being driven by the process that
 * accepted it, so others wait a lease; a prepared one is due at its deadline or after one interval.
 * @param timeoutS the transaction's timeout (its `timeout_to_fail`, else its type's default).
 */
export function firstSchedule(
  status: 'prepared' | 'submitted',
  wait: PreparedWait,
  options: Pick<TransOptions, 'retry_interval' | 'timeout_to_fail'>,
  timeoutS: number,
  config: Pick<Config, 'retryIntervalMs' | 'requestTimeoutMs'>,
  now: number,
): { at: number; interval: number } {
  const interval = baseInterval(options, config);
  if (status === 'submitted') return { at: now + leaseMs(config), interval };
  if (wait === 'deadline') return { at: now + Math.min(timeoutS, interval) * 1000, interval };
  return { at: now + interval * 1000, interval };
}

/** A prepared transaction before its deadline comes back at the deadline, or at the next interval if sooner. */
export function preparedRecheckAt(createTime: number, timeoutS: number, intervalS: number, now: number): number {
  return Math.min(createTime + timeoutS * 1000, now + intervalS * 1000);
}

/** The deadline of a transaction created at `createTime`: its timeout passed, when it has one (> 0). */
export function isPastDeadline(createTime: number, timeoutS: number, now: number): boolean {
  return timeoutS > 0 && now - createTime >= timeoutS * 1000;
}
