/**
 * Prometheus metrics with prom-client: DTM's names and labels (so existing dashboards work) plus
 * our own. Label values come from closed sets only: no gids, URLs or query strings.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ScriptObserver } from './store/script-runner.js';
import type { ProcessObserver } from './trans/round.js';

export interface Metrics {
  readonly registry: Registry;
  /** For the poller: transactions claimed in one pass, and rounds skipped as already active here. */
  claimed(count: number): void;
  /** For route.ts: one observation per HTTP request. */
  request(api: string, status: number, seconds: number): void;
  readonly script: ScriptObserver;
  /** What processing reports; the alert webhook is composed beside it in app.ts. */
  readonly process: Omit<ProcessObserver, 'backedOff'>;
  /** Sets where the due-transaction gauge reads its counts at scrape time. */
  countDueWith(countDue: () => Promise<number[]>): void;
  /** The text exposition. */
  render(): Promise<string>;
  contentType: string;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const serverProcess = new Counter({
    name: 'dtm_server_process_total',
    help: 'All requests received by the DTM server',
    labelNames: ['type', 'api', 'status'] as const,
    registers: [registry],
  });
  const serverDuration = new Histogram({
    name: 'dtm_server_response_duration',
    help: 'The request durations of the DTM server, in seconds',
    labelNames: ['type', 'api'] as const,
    registers: [registry],
  });
  const transProcess = new Counter({
    name: 'dtm_transaction_process_total',
    help: 'All transactions processed by the DTM server',
    labelNames: ['model', 'status'] as const,
    registers: [registry],
  });
  const transHandled = new Histogram({
    name: 'dtm_transaction_handled_duration',
    help: "Seconds from a transaction's creation to each of its processing rounds",
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const branchProcess = new Counter({
    name: 'dtm_branch_process_total',
    help: 'All branches processed by the DTM server',
    labelNames: ['model', 'branchid', 'branchtype', 'status'] as const,
    registers: [registry],
  });
  const branchDuration = new Histogram({
    name: 'dtm_branch_call_duration_seconds',
    help: 'Branch call latency by outcome',
    labelNames: ['model', 'op', 'result'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const scriptDuration = new Histogram({
    name: 'dtm_redis_script_duration_seconds',
    help: 'Lua transition latency as seen by the coordinator (round trip included)',
    labelNames: ['script'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  const scriptReplies = new Counter({
    name: 'dtm_redis_script_replies_total',
    help: 'Lua transition replies by tag (STALE shows compare-and-set conflicts)',
    labelNames: ['script', 'tag'] as const,
    registers: [registry],
  });

  const branchInflight = new Gauge({
    name: 'dtm_branch_calls_in_flight',
    help: 'Branch calls in flight in this process',
    registers: [registry],
  });
  const redisErrors = new Counter({
    name: 'dtm_redis_errors_total',
    help: 'Lua transitions that failed with a Redis or connection error',
    labelNames: ['script'] as const,
    registers: [registry],
  });
  const claims = new Counter({
    name: 'dtm_poller_claimed_total',
    help: "Due transactions claimed (leased) by this process's poller",
    registers: [registry],
  });
  const leaseExpiries = new Counter({
    name: 'dtm_lease_expiries_total',
    help: 'Claimed transactions whose previous claim expired without a reschedule (holder died or overran)',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  let countDue: (() => Promise<number[]>) | undefined;
  // Buckets are few (a power of two fixed per dataset), so a label per bucket stays bounded.
  new Gauge({
    name: 'dtm_due_transactions',
    help: 'Transactions whose next cron time has passed, per bucket, at scrape time',
    labelNames: ['bucket'] as const,
    registers: [registry],
    async collect() {
      if (countDue === undefined) return;
      try {
        (await countDue()).forEach((n, b) => this.set({ bucket: String(b) }, n));
      } catch {
        // Redis unreachable: leave the last values; dtm_redis_errors_total tells the story.
      }
    },
  });

  // Label children resolved once per label set: prom-client hashes the label object on every call.
  const requests = memo((api: string, outcome: string) => serverProcess.labels('http', api, outcome));
  const requestTimes = memo((api: string) => serverDuration.labels('http', api));
  const scriptTimes = memo((name: string) => scriptDuration.labels(name));
  const scriptTags = memo((name: string, tag: string) => scriptReplies.labels(name, tag));
  const branches = memo((model: string, branchId: string, op: string, outcome: string) => branchProcess.labels(model, branchId, op, outcome));
  const branchTimes = memo((model: string, op: string, result: string) => branchDuration.labels(model, op, result));
  const rounds = memo((model: string, outcome: string) => transProcess.labels(model, outcome));
  const roundTimes = memo((model: string) => transHandled.labels(model));

  return {
    registry,
    claimed(count) {
      if (count > 0) claims.inc(count);
    },
    request(api, status, seconds) {
      requests(api, status < 400 ? 'ok' : 'fail').inc();
      requestTimes(api).observe(seconds);
    },
    script(name, seconds, tag) {
      scriptTimes(name).observe(seconds);
      scriptTags(name, tag).inc();
      if (tag === 'ERROR') redisErrors.inc({ script: name });
    },
    process: {
      branchStarted() {
        branchInflight.inc();
      },
      branchCalled(model, branchId, op, result, seconds) {
        branchInflight.dec();
        branches(model, branchId, op, result === 'SUCCESS' ? 'ok' : 'fail').inc();
        branchTimes(model, op, result).observe(seconds);
      },
      roundDone(model, ok, secondsSinceCreate) {
        rounds(model, ok ? 'ok' : 'fail').inc();
        roundTimes(model).observe(secondsSinceCreate);
      },
      leaseExpired(model) {
        leaseExpiries.inc({ model });
      },
    },
    countDueWith(fn) {
      countDue = fn;
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** Caches `make(...labelValues)` per distinct tuple of label values (a closed set, so bounded). */
function memo<A extends string[], T>(make: (...values: A) => T): (...values: A) => T {
  const cache = new Map<string, T>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = cache.get(key);
    if (child === undefined) {
      child = make(...values);
      cache.set(key, child);
    }
    return child;
  };
}
