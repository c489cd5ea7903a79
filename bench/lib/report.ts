/** The Markdown results table (bench/results/latest.md and the block in bench/README.md). */
import { WORKLOADS, type WorkloadName } from '../workloads.js';

/** The JSON line of one run (the fields the table shows; the line has more). */
export interface BenchResult {
  workload: string;
  tx_per_s: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  errors: number;
  /** null: an external coordinator (its store is not the bench Redis). */
  redis_round_trips_per_tx: number | null;
  redis_commands_per_tx: number | null;
  redis_cpu_us_per_tx: number | null;
  /** null: an external coordinator without --dtm-pid. */
  coordinator_cpu_us_per_tx: number | null;
  redis_bytes_per_finished_tx: number | null;
  end_state_ok: boolean;
  redis_ceiling_rps_p1: number | null;
  redis_ceiling_rps_p16: number | null;
  ratio_to_redis_ceiling: number | null;
  /** tx_per_s ÷ redis_ceiling_rps_p1: throughput in units of this machine's Redis, for any coordinator. */
  tx_per_redis_ceiling: number | null;
  cpu_pct: Record<string, number | null>;
  env: BenchEnv;
  [k: string]: unknown;
}

export interface BenchEnv {
  node: string;
  redis: string;
  appendonly: string;
  appendfsync: string;
  cpu_count: number;
  cpu_model: string;
  git: string;
  concurrency: number;
  duration_s: number;
  warmup_s: number;
  workers: number;
  http_server: string;
  redis_autopipelining: string;
  /** --redis-arg settings on top of redis.conf. */
  redis_extra_config: string[];
  /** Replicas of the bench Redis, and how many acknowledged writes waited for (STORE_WAIT_REPLICAS). */
  replicas: number;
  store_wait_replicas: number;
  /** taskset layout per role, or 'none'. */
  cpu_pinning: string;
  /** `ours (dist/src/main.js)` or `external <url>` (--dtm-url). */
  coordinator: string;
  /** Coordinator settings set in the environment of `npm run bench` (passed through to ours), e.g. MAX_INFLIGHT_ROUNDS. */
  coordinator_settings: Record<string, string>;
  date: string;
}

const fmt = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The table of `results`, with a row for each workload left out and why. */
export function markdownTable(results: readonly BenchResult[], skipped: readonly { name: WorkloadName; reason: string }[] = []): string {
  const lines: string[] = [];
  lines.push(
    '| workload | tx/s | p50 ms | p99 ms | p99.9 ms | errors | Redis RT/tx | Redis cmds/tx | Redis µs/tx | coord. µs/tx | Redis B/finished tx | end state | × Redis ceiling | tx ÷ ceiling | CPU % coord / redis / stub / driver (machine idle) | target |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|');
  for (const r of results) {
    const w = WORKLOADS[r.workload as WorkloadName];
    const cpu = r.cpu_pct;
    lines.push(
      `| ${r.workload} | ${fmt(r.tx_per_s)} | ${fmt(r.p50_ms, 2)} | ${fmt(r.p99_ms, 2)} | ${fmt(r.p999_ms, 2)} | ${r.errors} | ${fmt(r.redis_round_trips_per_tx, 2)} | ${fmt(r.redis_commands_per_tx, 1)} | ${fmt(r.redis_cpu_us_per_tx, 1)} | ${fmt(r.coordinator_cpu_us_per_tx, 1)} | ${fmt(r.redis_bytes_per_finished_tx)} | ${r.end_state_ok ? 'ok' : '**FAILED**'} | ${fmt(r.ratio_to_redis_ceiling, 2)} | ${fmt(r.tx_per_redis_ceiling, 3)} | ${fmt(cpu['coordinator'])} / ${fmt(cpu['redis'])} / ${fmt(cpu['stub'])} / ${fmt(cpu['driver'])} (${fmt(cpu['machine_idle'])}) | ${w?.target ?? ''} |`,
    );
  }
  for (const s of skipped) lines.push(`| ${s.name} | not run: ${s.reason} | | | | | | | | | | | | | | ${WORKLOADS[s.name].target ?? ''} |`);
  const first = results[0];
  if (first !== undefined) {
    const e = first.env;
    const ceil = results.map((r) => r.redis_ceiling_rps_p1).filter((x): x is number => x !== null);
    const ceil16 = results.map((r) => r.redis_ceiling_rps_p16).filter((x): x is number => x !== null);
    lines.push('');
    lines.push(
      `Environment: ${e.cpu_count} × ${e.cpu_model}, Node ${e.node}, Redis ${e.redis} (appendonly ${e.appendonly}, appendfsync ${e.appendfsync}${e.redis_extra_config.length > 0 ? `, ${e.redis_extra_config.join(', ')}` : ''}), ` +
        `Coordinator ${e.coordinator ?? 'ours'}${
          Object.keys(e.coordinator_settings ?? {}).length > 0
            ? ` with ${Object.entries(e.coordinator_settings)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : ''
        }, HTTP ${e.http_server}, ioredis autopipelining ${e.redis_autopipelining}, git ${e.git}, ${e.date}. ` +
        `Concurrency ${e.concurrency}, ${e.warmup_s} s warm-up + ${e.duration_s} s measured per workload, ${e.workers} coordinator process(es), CPU pinning ${e.cpu_pinning ?? 'none'}. ` +
        `Driver, coordinator, stub and Redis all share the ${e.cpu_count} cores: process CPU % is of one core, machine idle % of all of them.`,
    );
    if (ceil.length > 0) {
      lines.push('');
      lines.push(
        `Redis ceiling measured in each run (redis-benchmark -c 50, EVALSHA HSET+ZADD): -P 1 ${ceil.map((x) => fmt(x)).join(' / ')} req/s, ` +
          `-P 16 ${ceil16.map((x) => fmt(x)).join(' / ')} req/s. "× Redis ceiling" = tx/s × Redis RT/tx ÷ the -P 1 figure of the same run (the share of Redis's round-trip capacity used); "tx ÷ ceiling" = tx/s ÷ that figure (throughput in units of this machine's Redis, comparable across machines and coordinators).`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
