/**
 * The console's live counters: rates from this process's own Prometheus counters, read by their
 * (DTM's) names so the metrics module stays as it is, and the backlog from the service (counts
 * the Lua scripts keep, plus each bucket's earliest due entry). One sample serves every caller
 * for `cacheMs`, so any number of open consoles cost one backlog read per interval.
 *
 * With `--workers N`, each process measures its own traffic: a poll answered by another worker
 * shows that worker's rates (the backlog is the dataset's, the same everywhere).
 */
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { DtmService } from '../trans/service.js';
import type { LiveRates, LiveStats } from './console-wire.js';

type Registry = Metrics['registry'];

/** Totals since this process started. */
export type ProcessCounters = LiveRates;

/** Sums a counter's values whose labels pass `keep`; 0 when the metric is absent. */
async function sum(registry: Registry, name: string, keep: (labels: Record<string, string | number | undefined>) => boolean): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  let total = 0;
  for (const v of values) if (keep(v.labels)) total += v.value;
  return total;
}

/** The totals the console shows as rates, read from the registry by metric name and label. */
export async function readProcessCounters(registry: Registry): Promise<ProcessCounters> {
  const [submits, roundsOk, roundsFailed, branchCalls, branchFailures, requestErrors] = await Promise.all([
    sum(registry, 'dtm_server_process_total', (l) => (l['api'] === 'submit' || l['api'] === 'prepare') && l['status'] === 'ok'),
    sum(registry, 'dtm_transaction_process_total', (l) => l['status'] === 'ok'),
    sum(registry, 'dtm_transaction_process_total', (l) => l['status'] === 'fail'),
    sum(registry, 'dtm_branch_process_total', () => true),
    sum(registry, 'dtm_branch_process_total', (l) => l['status'] === 'fail'),
    sum(registry, 'dtm_server_process_total', (l) => l['status'] === 'fail'),
  ]);
  return {
    submits,
    rounds_ok: roundsOk,
    rounds_failed: roundsFailed,
    branch_calls: branchCalls,
    branch_failures: branchFailures,
    request_errors: requestErrors,
  };
}

export interface LiveStatsOptions {
  counters: () => Promise<ProcessCounters>;
  service: Pick<DtmService, 'backlog'>;
  /** The coordinator's clock (schedules are on it). */
  clock: Clock;
  /** Wall time for the rate windows. @default performance.now */
  elapsedMs?: () => number;
  /** How long one sample serves. @default 1000 */
  cacheMs?: number;
}

export interface LiveStatsReader {
  read(): Promise<LiveStats>;
}

const ZERO: LiveRates = { submits: 0, rounds_ok: 0, rounds_failed: 0, branch_calls: 0, branch_failures: 0, request_errors: 0 };

export function createLiveStats(opts: LiveStatsOptions): LiveStatsReader {
  const elapsed = opts.elapsedMs ?? (() => performance.now());
  const cacheMs = opts.cacheMs ?? 1000;
  let prev: { at: number; totals: ProcessCounters } | undefined;
  let cached: { at: number; stats: Promise<LiveStats> } | undefined;

  async function sample(at: number): Promise<LiveStats> {
    const [totals, backlog] = await Promise.all([opts.counters(), opts.service.backlog()]);
    const windowS = prev === undefined ? 0 : (at - prev.at) / 1000;
    const rates = { ...ZERO };
    if (prev !== undefined && windowS > 0) {
      for (const k of Object.keys(rates) as (keyof LiveRates)[]) rates[k] = Math.max(0, (totals[k] - prev.totals[k]) / windowS);
    }
    prev = { at, totals };
    const now = opts.clock.now();
    return {
      now,
      window_s: windowS,
      rates,
      backlog: backlog.byStatus,
      oldest_due_age_ms: backlog.earliestDue === undefined ? null : Math.max(0, now - backlog.earliestDue),
    };
  }

  return {
    read() {
      const at = elapsed();
      if (cached !== undefined && at - cached.at < cacheMs) return cached.stats;
      const stats = sample(at);
      cached = { at, stats };
      // A failed read is not cached: the next poll tries again.
      stats.catch(() => {
        if (cached?.stats === stats) cached = undefined;
      });
      return stats;
    },
  };
}
