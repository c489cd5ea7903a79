/**
 * Prometheus metrics with prom-client: DTM's names and labels (so existing dashboards work) plus
 * our own. Label values come from closed sets only: no gids, URLs or query strings. This is the
 * only module that imports prom-client; cluster-metrics.ts moves its snapshots between processes.
 */
import type { Clock } from './clock.js';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { READS, type ReadFailureObserver } from './store/store-error.js';
import type { ScriptObserver } from './store/script-runner.js';
import { SCRIPTS } from './store/scripts.js';
import type { Backlog } from './store/store.js';
import type { ProcessObserver } from './trans/round.js';
import type { RoundSlots } from './trans/round-slots.js';
import { TransType } from './types.js';

/** Why route.ts refused a request before running it (413 and 503 from its own limits). */
export type ShedReason = 'too_large' | 'overloaded';

/** One process's metrics as plain data (prom-client's JSON form), to be summed with others'. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

export interface Metrics {
  readonly registry: Registry;
  /** For the poller: transactions claimed in one pass, and rounds skipped as already active here. */
  claimed(count: number): void;
  /** For route.ts: one observation per HTTP request. */
  request(api: string, status: number, seconds: number): void;
  /** For the gRPC server: one observation per call (`type="grpc"`), ok when it answered OK. */
  grpcRequest(api: string, ok: boolean, seconds: number): void;
  /** For route.ts: a request refused by its body or in-flight limit. */
  shed(reason: ShedReason): void;
  readonly script: ScriptObserver;
  readonly readFailed: ReadFailureObserver;
  /** What processing reports; the alert webhook is composed beside it in app.ts. */
  readonly process: ProcessObserver;
  /** For the alert webhook: one POST delivered (2xx) or not. */
  alertSent(delivered: boolean): void;
  /**
   * Exports the cluster-wide backlog gauges, read through `read` at most once a second however
   * many scrapes ask. Only one process of a `--workers` group calls it (the primary), so the
   * gauges are read once per scrape and never multiplied by the group's size.
   */
  watchBacklog(read: () => Promise<Backlog>, clock: Clock): void;
  /** Exports the round slots' state (load-levelling): rounds in flight, the bound, the line, the deferrals. */
  watchRounds(slots: Pick<RoundSlots, 'inUse' | 'limit' | 'waiting' | 'deferrals'>): void;
  /** This process's metrics, for a primary summing its group. */
  snapshot(): Promise<MetricsSnapshot>;
  /** The text exposition of this process alone. */
  render(): Promise<string>;
  contentType: string;
}

export interface MetricsOptions {
  /** The coordinator's version, for `dtm_coordinator_build_info`. */
  version: string;
  /** The gRPC library's version, for `dtm_server_info`; `none` without a gRPC server. */
  grpcVersion?: string;
}

/** How long one backlog read serves the scrapes that ask for it. */
const BACKLOG_CACHE_MS = 1000;

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // Info gauges are 1 in every process; summed over a group they would read N.
  new Gauge({
    name: 'dtm_server_info',
    help: "DTM's server information gauge (always 1): this server has no gin; grpc_version is @grpc/grpc-js's",
    labelNames: ['gin_version', 'grpc_version'] as const,
    aggregator: 'max',
    registers: [registry],
  }).set({ gin_version: 'none', grpc_version: opts.grpcVersion ?? 'none' }, 1);
  new Gauge({
    name: 'dtm_coordinator_build_info',
    help: 'The running coordinator: its version and Node.js version (always 1)',
    labelNames: ['version', 'node_version'] as const,
    aggregator: 'max',
    registers: [registry],
  }).set({ version: opts.version, node_version: process.version }, 1);

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
  const shedRequests = new Counter({
    name: 'dtm_requests_shed_total',
    help: 'Requests refused before processing: body over MAX_BODY_BYTES (413) or MAX_INFLIGHT_REQUESTS reached (503)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const transProcess = new Counter({
    name: 'dtm_transaction_process_total',
    help: "Transaction processing rounds; fail as DTM's Process() fails: an error, or a submitted transaction that did not succeed",
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
  const retries = new Counter({
    name: 'dtm_branch_retries_total',
    help: 'Rounds that ended with a failed branch call and rescheduled it with backoff (each is a retry to come)',
    labelNames: ['model'] as const,
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
    help: 'Branch calls in flight',
    registers: [registry],
  });
  const redisErrors = new Counter({
    name: 'dtm_redis_errors_total',
    help: 'Redis operations (Lua transitions and reads) that failed with a Redis or connection error',
    labelNames: ['op'] as const,
    registers: [registry],
  });
  const claims = new Counter({
    name: 'dtm_poller_claimed_total',
    help: 'Due transactions claimed (leased) by the pollers',
    registers: [registry],
  });
  const leaseExpiries = new Counter({
    name: 'dtm_lease_expiries_total',
    help: 'Claimed transactions whose previous claim expired without a reschedule (holder died or overran)',
    labelNames: ['model'] as const,
    registers: [registry],
  });
  const alerts = new Counter({
    name: 'dtm_alert_webhook_total',
    help: 'Alert webhook POSTs by result: sent (2xx) or failed (no answer or another status)',
    labelNames: ['result'] as const,
    registers: [registry],
  });

  // Closed label sets start at 0, so that rate() and increase() see their first event.
  for (const reason of ['too_large', 'overloaded'] as const) shedRequests.labels(reason).inc(0);
  for (const result of ['sent', 'failed'] as const) alerts.labels(result).inc(0);
  for (const op of [...SCRIPTS.map((s) => s.name), ...READS]) redisErrors.labels(op).inc(0);
  for (const model of Object.values(TransType)) {
    retries.labels(model).inc(0);
    leaseExpiries.labels(model).inc(0);
  }

  // Label children resolved once per label set: prom-client hashes the label object on every call.
  const requests = memo((type: string, api: string, outcome: string) => serverProcess.labels(type, api, outcome));
  const requestTimes = memo((type: string, api: string) => serverDuration.labels(type, api));
  const scriptTimes = memo((name: string) => scriptDuration.labels(name));
  const scriptTags = memo((name: string, tag: string) => scriptReplies.labels(name, tag));
  const branches = memo((model: string, branchId: string, op: string, outcome: string) => branchProcess.labels(model, branchId, op, outcome));
  const branchTimes = memo((model: string, op: string, result: string) => branchDuration.labels(model, op, result));
  const rounds = memo((model: string, outcome: string) => transProcess.labels(model, outcome));
  const roundTimes = memo((model: string) => transHandled.labels(model));

  let watching = false;

  return {
    registry,
    claimed(count) {
      if (count > 0) claims.inc(count);
    },
    request(api, status, seconds) {
      requests('http', api, status < 400 ? 'ok' : 'fail').inc();
      requestTimes('http', api).observe(seconds);
    },
    grpcRequest(api, ok, seconds) {
      requests('grpc', api, ok ? 'ok' : 'fail').inc();
      requestTimes('grpc', api).observe(seconds);
    },
    shed(reason) {
      shedRequests.labels(reason).inc();
    },
    script(name, seconds, tag) {
      scriptTimes(name).observe(seconds);
      scriptTags(name, tag).inc();
      if (tag === 'ERROR') redisErrors.labels(name).inc();
    },
    readFailed(read) {
      redisErrors.labels(read).inc();
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
        leaseExpiries.labels(model).inc();
      },
      backedOff(trans) {
        retries.labels(trans.trans_type).inc();
      },
    },
    alertSent(delivered) {
      alerts.labels(delivered ? 'sent' : 'failed').inc();
    },
    watchRounds(slots) {
      registerRoundGauges(registry, slots);
    },
    watchBacklog(read, clock) {
      if (watching) throw new Error('watchBacklog: the backlog gauges are registered already');
      watching = true;
      registerBacklogGauges(registry, read, clock);
    },
    snapshot: () => registry.getMetricsAsJSON(),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/**
 * Saturation of this process's round slots (summed over a `--workers` group, as its capacity is):
 * in flight against the bound, callers in line, and transactions left to the schedule for want of a slot.
 */
function registerRoundGauges(registry: Registry, slots: Pick<RoundSlots, 'inUse' | 'limit' | 'waiting' | 'deferrals'>): void {
  new Gauge({
    name: 'dtm_rounds_in_flight',
    help: 'Processing rounds this process drives now, API-started and poller-started (at most dtm_rounds_in_flight_limit)',
    registers: [registry],
    collect() {
      this.set(slots.inUse);
    },
  });
  new Gauge({
    name: 'dtm_rounds_in_flight_limit',
    help: 'MAX_INFLIGHT_ROUNDS: the rounds one process drives at once; past it, accepted transactions wait in the schedule',
    registers: [registry],
    collect() {
      this.set(slots.limit);
    },
  });
  new Gauge({
    name: 'dtm_rounds_waiting',
    help: 'wait_result callers in line for a round slot',
    registers: [registry],
    collect() {
      this.set(slots.waiting);
    },
  });
  new Counter({
    name: 'dtm_rounds_deferred_total',
    help: 'Transactions an API call left to the schedule (due at once) instead of driving them, because every round slot was busy',
    registers: [registry],
    collect() {
      // The slots count deferrals themselves (no call per deferral here); the counter shows that count.
      this.reset();
      this.inc(slots.deferrals);
    },
  });
}

/**
 * The cluster-wide gauges, from the counts the scripts keep per bucket and each bucket's schedule
 * head (Store.backlog: two commands per bucket in one write), read once per scrape at most.
 */
function registerBacklogGauges(registry: Registry, read: () => Promise<Backlog>, clock: Clock): void {
  let cached: { at: number; value: Promise<Backlog> } | undefined;
  const backlog = (): Promise<Backlog> => {
    const t = performance.now();
    if (cached === undefined || t - cached.at >= BACKLOG_CACHE_MS) cached = { at: t, value: read() };
    return cached.value;
  };
  // A failed read leaves the last values; dtm_redis_errors_total{op="backlog"} tells the story.
  const latest = async (): Promise<Backlog | undefined> => backlog().catch(() => undefined);
  new Gauge({
    name: 'dtm_transactions_unfinished',
    help: 'Unfinished transactions by status, over the whole dataset (counts the Lua scripts maintain)',
    labelNames: ['status'] as const,
    aggregator: 'max',
    registers: [registry],
    async collect() {
      const b = await latest();
      if (b === undefined) return;
      for (const [status, n] of Object.entries(b.byStatus)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'dtm_oldest_due_age_seconds',
    help: 'How long the most overdue transaction has been due without being claimed (0 when none is overdue)',
    aggregator: 'max',
    registers: [registry],
    async collect() {
      const b = await latest();
      if (b === undefined) return;
      // Claimed (leased) entries are scored in the future: only a past score is overdue.
      const t = clock.now();
      this.set(b.earliestDue !== undefined && b.earliestDue < t ? (t - b.earliestDue) / 1000 : 0);
    },
  });
}

/**
 * The exposition of the sum of several processes' snapshots, each metric combined by its
 * aggregator: sum by default (counters, histograms, in-flight gauges), max for the info and
 * cluster-wide gauges, and prom-client's own choices for the default process metrics.
 */
export function renderSum(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots as MetricsSnapshot[]).metrics();
}

/**
 * The counters and histograms of a snapshot: what a group keeps of a worker that exited, so that
 * the group's counters never go backwards (its gauges go with it).
 */
export function cumulativeOf(snapshot: MetricsSnapshot): MetricsSnapshot {
  // prom-client's typings say an enum; its JSON holds the exposition's type names.
  return snapshot.filter((m) => ['counter', 'histogram'].includes(m.type as unknown as string));
}

/** Several snapshots summed into one (metric by metric, series by series). */
export async function sumCumulative(snapshots: readonly MetricsSnapshot[]): Promise<MetricsSnapshot> {
  return await AggregatorRegistry.aggregate(snapshots as MetricsSnapshot[]).getMetricsAsJSON();
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
