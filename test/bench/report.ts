/**
 * The results table (bench/lib/report.ts): both ceiling ratios per row, unknown figures as –,
 * workloads left out with their reason, and the environment line naming the coordinator and the
 * settings passed through.
 */
import t from 'tap';
import { markdownTable, type BenchResult } from '../../bench/lib/report.js';

const env: BenchResult['env'] = {
  node: 'v20.20.2',
  redis: '7.0.15',
  appendonly: 'yes',
  appendfsync: 'everysec',
  cpu_count: 2,
  cpu_model: 'AMD EPYC',
  git: 'abc',
  concurrency: 50,
  duration_s: 6,
  warmup_s: 2,
  workers: 1,
  http_server: 'uWebSockets.js (native)',
  redis_autopipelining: 'off',
  redis_extra_config: [],
  replicas: 0,
  store_wait_replicas: 0,
  cpu_pinning: 'none',
  coordinator: 'ours (dist/src/main.js)',
  coordinator_settings: { MAX_INFLIGHT_ROUNDS: '64' },
  date: '2026-12-01T00:00:00.000Z',
};

const row = (over: Partial<BenchResult>): BenchResult => ({
  workload: 'saga-e2e',
  tx_per_s: 8000,
  p50_ms: 5,
  p99_ms: 12,
  p999_ms: 17,
  errors: 0,
  redis_round_trips_per_tx: 2,
  redis_commands_per_tx: 11,
  redis_cpu_us_per_tx: 40,
  coordinator_cpu_us_per_tx: 100,
  redis_bytes_per_finished_tx: 800,
  end_state_ok: true,
  redis_ceiling_rps_p1: 64000,
  redis_ceiling_rps_p16: 100000,
  ratio_to_redis_ceiling: 0.25,
  tx_per_redis_ceiling: 0.125,
  cpu_pct: { coordinator: 90, redis: 35, stub: 17, driver: 21, machine_idle: 15 },
  env,
  ...over,
});

t.test('each row carries both ratios to the Redis ceiling; nulls show as –', async (t) => {
  const table = markdownTable([
    row({}),
    row({
      workload: 'grpc-saga',
      redis_round_trips_per_tx: null,
      coordinator_cpu_us_per_tx: null,
      ratio_to_redis_ceiling: null,
      cpu_pct: { coordinator: null, redis: 1, stub: 2, driver: 3, machine_idle: 4 },
    }),
  ]);
  t.match(table, /\| × Redis ceiling \| tx ÷ ceiling \|/, 'both columns');
  t.match(table, /\| saga-e2e \| 8,000 \|.*\| ok \| 0\.25 \| 0\.125 \| 90 \/ 35 \/ 17 \/ 21 \(15\) \|/, 'the figures of a full row');
  t.match(table, /\| grpc-saga \| 8,000 \|.*\| – \|.*\| ok \| – \| 0\.125 \| – \/ 1 \/ 2 \/ 3 \(4\) \|/, 'unknown figures as –');
  t.match(table, /Coordinator ours \(dist\/src\/main\.js\) with MAX_INFLIGHT_ROUNDS=64/, 'the coordinator and its settings');
  t.match(table, /"tx ÷ ceiling" = tx\/s ÷ that figure/, 'the ratios explained');
});

t.test('a workload left out gets a row with the reason', async (t) => {
  const table = markdownTable([row({})], [{ name: 'burst', reason: 'runs until the backlog drains' }]);
  t.match(table, /\| burst \| not run: runs until the backlog drains \|/, 'the burst row');
});
