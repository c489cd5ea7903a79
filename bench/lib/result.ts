/**
 * The JSON line of one run, from what the phases measured. Figures that need the coordinator's
 * own store or process are null when it is external (--dtm-url) and unknown (`external_note`).
 */
import { WORKLOADS, type WorkloadName } from '../workloads.js';
import type { Options } from './args.js';
import type { BenchRedis } from './bench-redis.js';
import type { Coordinator } from './coordinator.js';
import type { CpuSnapshot } from './driver-proc.js';
import type { EndState, FlashEnd } from './end-state.js';
import { cpuInfo, gitRevision } from './env.js';
import type { DriverResult, StubStats } from './ipc.js';
import { commandDelta, dbKeys, num, redisCpuUs, type RedisSnapshot } from './redis-info.js';
import type { BenchEnv, BenchResult } from './report.js';
import { round } from './stats.js';

/** One end of the measured interval. */
export interface Mark {
  t: number;
  info: RedisSnapshot;
  cpu: CpuSnapshot;
}

export interface RunFacts {
  name: WorkloadName;
  opts: Options;
  root: string;
  redis: BenchRedis;
  coordinator: Coordinator;
  /** Coordinator settings passed through the environment (coordinatorSettings). */
  settings: Record<string, string>;
  luaCommands: ReadonlySet<string>;
  /** Snapshots before the load, and after the drain. */
  before: RedisSnapshot;
  after: RedisSnapshot;
  /** The measured interval: the window (closed loop), or the burst and its drain (burst). */
  s0: Mark;
  s1: Mark;
  /** Transactions counted in the interval, and its length in s for tx_per_s. */
  tx: number;
  seconds: number;
  result: DriverResult;
  stub: StubStats;
  end: EndState;
  flashEnd: FlashEnd | undefined;
  backlog: number | null;
  drainS: number;
  machinePct(a: CpuSnapshot, b: CpuSnapshot, k: 'mIdle' | 'mSteal'): number;
  roles: readonly string[];
}

export function buildResult(f: RunFacts): BenchResult {
  const { result, redis, opts } = f;
  const ext = f.coordinator.external;
  const ceiling = redis.ceiling;
  const tx = f.tx;
  const per = (x: number): number => (tx > 0 ? x / tx : NaN);
  const orNull = (x: number): number | null => (ext ? null : x);
  const cmd = commandDelta(f.s0.info, f.s1.info, f.luaCommands);
  const windowMs = f.s1.t - f.s0.t;
  const cpuDelta = (k: string): number => (f.s1.cpu[k] ?? 0) - (f.s0.cpu[k] ?? 0);
  const coordMeasured = f.coordinator.pids().length > 0 || !ext;
  const finished = result.total.succeed + result.total.failed;
  const txPerS = tx / f.seconds;
  const rtPerTx = per(cmd.roundTrips);
  const branchCalls = Object.values(f.stub.calls).reduce((a, b) => a + b, 0);
  const env: BenchEnv = {
    node: process.version,
    redis: redis.version,
    appendonly: redis.appendonly,
    appendfsync: redis.appendfsync,
    cpu_count: cpuInfo().count,
    cpu_model: cpuInfo().model,
    git: gitRevision(f.root),
    concurrency: opts.concurrency,
    duration_s: opts.durationS,
    warmup_s: opts.warmupS,
    workers: opts.workers,
    http_server: f.coordinator.httpServer,
    redis_autopipelining: process.env['REDIS_AUTOPIPELINING'] === '1' ? 'on' : 'off',
    redis_extra_config: opts.redisArgs,
    replicas: opts.replicas,
    store_wait_replicas: opts.waitReplicas,
    cpu_pinning:
      Object.keys(opts.pin).length > 0
        ? Object.entries(opts.pin)
            .map(([r, c]) => `${r}=${c}`)
            .join(',')
        : 'none',
    coordinator: ext ? `external ${f.coordinator.url}${opts.dtmPid !== undefined ? ` (pid ${opts.dtmPid})` : ''}` : 'ours (dist/src/main.js)',
    coordinator_settings: f.settings,
    date: new Date().toISOString(),
  };
  const out: BenchResult = {
    workload: f.name,
    tx_per_s: round(txPerS, 0),
    p50_ms: round(result.latencyMs.p50),
    p90_ms: round(result.latencyMs.p90),
    p99_ms: round(result.latencyMs.p99),
    p999_ms: round(result.latencyMs.p999),
    max_ms: round(result.latencyMs.max),
    errors: f.name === 'burst' ? result.total.errors : result.window.errors,
    redis_round_trips_per_tx: orNull(round(rtPerTx)),
    redis_commands_per_tx: orNull(round(per(cmd.commands))),
    redis_cpu_us_per_tx: orNull(round(per(redisCpuUs(f.s1.info) - redisCpuUs(f.s0.info)), 1)),
    coordinator_cpu_us_per_tx: coordMeasured ? round(per(cpuDelta('coordinator')), 1) : null,
    stub_cpu_us_per_tx: round(per(cpuDelta('stub')), 1),
    driver_cpu_us_per_tx: round(per(cpuDelta('driver')), 1),
    redis_bytes_per_finished_tx: orNull(round(finished > 0 ? (num(f.after, 'used_memory') - num(f.before, 'used_memory')) / finished : NaN, 0)),
    redis_keys_per_finished_tx: orNull(round(finished > 0 ? (dbKeys(f.after) - dbKeys(f.before)) / finished : NaN, 3)),
    end_state_ok: f.end.ok && (f.flashEnd?.ok ?? true),
    end_state: f.end,
    redis_ceiling_rps_p1: ceiling ? round(ceiling.evalshaP1, 0) : null,
    redis_ceiling_rps_p16: ceiling ? round(ceiling.evalshaP16, 0) : null,
    redis_set_rps_p1: ceiling ? round(ceiling.setP1, 0) : null,
    redis_set_rps_p16: ceiling ? round(ceiling.setP16, 0) : null,
    ratio_to_redis_ceiling: ceiling && !ext ? round((txPerS * rtPerTx) / ceiling.evalshaP1, 3) : null,
    tx_per_redis_ceiling: ceiling ? round(txPerS / ceiling.evalshaP1, 4) : null,
    cpu_pct: {
      ...Object.fromEntries(f.roles.map((k) => [k, k === 'coordinator' && !coordMeasured ? null : round((100 * cpuDelta(k)) / (windowMs * 1000), 0)])),
      machine_idle: round(f.machinePct(f.s0.cpu, f.s1.cpu, 'mIdle'), 0),
      machine_steal: round(f.machinePct(f.s0.cpu, f.s1.cpu, 'mSteal'), 0),
    },
    branch_calls_per_tx: round(finished > 0 ? branchCalls / (finished + result.total.errors) : NaN),
    redis_calls_per_tx: ext ? null : Object.fromEntries(Object.entries(cmd.perCommand).map(([k, v]) => [k, round(per(v), 3)])),
    tx_window: tx,
    tx_total: finished,
    rolled_back: result.total.failed,
    backlog_at_stop: f.backlog,
    drain_s: round(f.drainS),
    aof_forks: orNull(num(f.after, 'total_forks') - num(f.before, 'total_forks')),
    env,
  };
  if (ext) {
    out['external_note'] =
      'external coordinator (--dtm-url): its store is not the bench Redis, so the redis_* per-tx figures, ratio_to_redis_ceiling and aof_forks are null; ' +
      (coordMeasured ? 'its CPU is measured from --dtm-pid and its children' : 'its CPU is unknown (no --dtm-pid)') +
      '; the end state is read through its /api/dtmsvr/query (end_state.method "query"); tx_per_redis_ceiling still compares across machines';
  }
  const w = WORKLOADS[f.name];
  if (f.flashEnd !== undefined) {
    const { ok: _ok, ...fields } = f.flashEnd;
    Object.assign(out, fields, { orders_per_s: round(result.window.succeed / result.windowS, 0) });
    out['note'] =
      'tx_per_s counts buy requests answered (200 bought, 409 sold out); each is a 2-phase msg: prepare, the Redis barrier deduction, then submit (its order step runs on the flash service) or abort. ' +
      'The Redis figures include the business scripts (barrier, order) on the same Redis.';
  }
  if (f.name === 'submit') {
    out['note'] =
      'tx_per_s counts acknowledged submits (durable in Redis); each saga then runs in the background in the same coordinator, ' +
      'and the per-tx CPU and Redis figures of the window include that background work; backlog_at_stop/drain_s show what was left';
  }
  if (f.name === 'grpc-saga') {
    out['grpc_branches'] = opts.grpcBranches;
    out['note'] =
      opts.grpcBranches === 'grpc'
        ? "submitted through DTM's gRPC API (dtmgimp.Dtm/Submit, WaitResult); the transaction's protocol is grpc, so both branches are gRPC calls to the gRPC stub (bench/grpc-stub.ts); compare with saga-e2e"
        : "submitted through DTM's gRPC API (dtmgimp.Dtm/Submit, WaitResult) with http:// branch URLs, which a gRPC transaction calls over HTTP: the HTTP stub, as saga-e2e (--grpc-branches http)";
  }
  if (w.failRate > 0)
    out['note'] = `${Math.round(w.failRate * 100)}% of transactions roll back (TransIn answers 409); their 409 is expected and counted as done`;
  if (result.errorSamples.length > 0) out['error_samples'] = result.errorSamples;
  if (ceiling) out['redis_ceiling_commands'] = ceiling.commands;
  return out;
}
