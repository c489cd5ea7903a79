/**
 * `npm run bench -- … --dtm-url URL` measures an external DTM-compatible coordinator: here one of
 * ours, started by the test (`node dist/src/main.js` with its own Redis), so the harness must
 * neither start a coordinator nor read the coordinator's store. The harness is compiled first
 * (tsc -p tsconfig.bench.json into a temporary directory under dist/; BENCH_ROOT points it back here), then
 * runs saga-empty (closed loop, 1 s) and a small burst (open loop, read back gid by gid through
 * /api/dtmsvr/query), and the JSON lines must say what was and was not measured. A small burst on
 * a coordinator the harness starts itself checks the store-side end state, the memory peaks and
 * that coordinator settings in the environment pass through.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable, type BenchResult } from '../../bench/lib/report.js';
import { spawnCoordinator, type CoordinatorProcess } from '../fixtures/process.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the repository's dist/ (git-ignored), so that the build resolves node_modules; never dist/src itself, which other tests run.
mkdirSync(join(ROOT, 'dist'), { recursive: true });
const out = mkdtempSync(join(ROOT, 'dist', 'bench-test-'));
let redis: TestRedis;
let coord: CoordinatorProcess;

t.before(async () => {
  const tsc = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');
  const built = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.bench.json', '--outDir', join(out, 'dist')], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`tsc failed: ${built.stdout}${built.stderr}`);
  // The built src/ finds redis.conf two levels above dist/ (src/store/embedded-redis.ts).
  symlinkSync(join(ROOT, 'redis.conf'), join(out, 'redis.conf'));
  redis = await startTestRedis();
  coord = await spawnCoordinator({ REDIS_URL: redis.url });
});
t.teardown(async () => {
  await coord?.stop();
  await redis?.stop();
  rmSync(out, { recursive: true, force: true });
});

/** Runs the compiled harness; resolves with its exit code, the parsed JSON line and stderr. */
function bench(args: string[], env: Record<string, string> = {}): Promise<{ code: number; result: BenchResult; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(out, 'dist/bench/run.js'), ...args, '--no-ceiling', '--results-dir', join(out, 'results')],
      { env: { ...process.env, BENCH_ROOT: ROOT, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? -1), result: JSON.parse(line) as BenchResult, stderr });
        } catch {
          reject(new Error(`no JSON line (${err?.message ?? 'exit 0'}): ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

t.test('saga-empty against an external coordinator: measured through its API, its internals null', async (t) => {
  const { code, result, stderr } = await bench([
    'saga-empty',
    '--dtm-url',
    `${coord.dtm}`,
    '--dtm-pid',
    String(coord.child.pid),
    '--duration',
    '1',
    '--warmup',
    '0.5',
    '--concurrency',
    '8',
  ]);
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-2000)})`);
  t.notMatch(stderr, /the coordinator serves HTTP/, 'the harness started no coordinator of its own');
  t.match(
    result,
    {
      workload: 'saga-empty',
      end_state_ok: true,
      end_state: { ok: true, method: 'query', sample_bad: 0, due_finished: null, due_unfinished: null },
      redis_round_trips_per_tx: null,
      redis_commands_per_tx: null,
      redis_cpu_us_per_tx: null,
      redis_calls_per_tx: null,
      redis_bytes_per_finished_tx: null,
      ratio_to_redis_ceiling: null,
      aof_forks: null,
      env: { coordinator: `external http://127.0.0.1:${coord.port} (pid ${coord.child.pid})`, coordinator_settings: {} },
      external_note: /external coordinator/,
    },
    'what an external server allows',
  );
  t.ok(result.tx_per_s > 0, `transactions ran (${result.tx_per_s} tx/s)`);
  t.ok(typeof result.coordinator_cpu_us_per_tx === 'number' && result.coordinator_cpu_us_per_tx > 0, 'with --dtm-pid its CPU is measured');
  t.ok((result.end_state as { sample_checked: number }).sample_checked > 0, 'a sample was read back');
  const table = markdownTable([result]);
  t.match(table, /\| saga-empty \| [\d,]+ \|.*\| – \|/, 'the table shows the unknown figures as –');
  t.match(table, /Coordinator external http:\/\/127\.0\.0\.1/, 'and says the coordinator was external');
});

t.test('a small burst against an external coordinator: every acknowledged gid read back final', async (t) => {
  const { code, result, stderr } = await bench([
    'burst',
    '--dtm-url',
    `http://127.0.0.1:${coord.port}`,
    '--rate',
    '40',
    '--burst-factor',
    '5',
    '--duration',
    '1',
    '--drain',
    '30',
  ]);
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-2000)})`);
  const burst = result['burst'] as Record<string, unknown>;
  t.match(
    burst,
    {
      sustainable_rate_tx_per_s: 40,
      rate_source: '--rate',
      probe: null,
      burst_factor: 5,
      offered_rate_tx_per_s: 200,
      errors: 0,
      all_finished: true,
      backlog_at_burst_end: null,
      ack_latency_ms: { p50: Number, p99: Number, max: Number },
      memory: { coordinator_rss_peak_bytes: null, coordinator_vmhwm_bytes: null },
    },
    'the burst report',
  );
  t.ok((burst['acknowledged'] as number) >= 150, `about 200 transactions acknowledged (${String(burst['acknowledged'])})`);
  t.match(
    result,
    { end_state_ok: true, end_state: { method: 'query', sample_bad: 0 }, coordinator_cpu_us_per_tx: null },
    'end state through the API; no pid, no CPU',
  );
  t.equal((result.end_state as { sample_checked: number }).sample_checked, burst['acknowledged'], 'every acknowledged gid was read back');
});

t.test('a small burst on our own coordinator: store checks, memory peaks, settings passed through', async (t) => {
  // MAX_INFLIGHT_REQUESTS stands for any coordinator setting (MAX_INFLIGHT_ROUNDS once it exists).
  const { code, result, stderr } = await bench(['burst', '--rate', '40', '--burst-factor', '5', '--duration', '1', '--drain', '30'], {
    MAX_INFLIGHT_REQUESTS: '5000',
  });
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-2000)})`);
  t.match(
    result,
    {
      workload: 'burst',
      end_state_ok: true,
      end_state: { method: 'store+query', due_finished: 0, due_unfinished: 0, records: { succeed: Number } },
      redis_round_trips_per_tx: Number,
      coordinator_cpu_us_per_tx: Number,
      env: { coordinator: 'ours (dist/src/main.js)', coordinator_settings: { MAX_INFLIGHT_REQUESTS: '5000' } },
      burst: {
        all_finished: true,
        errors: 0,
        backlog_at_burst_end: Number,
        memory: { coordinator_rss_peak_bytes: Number, coordinator_vmhwm_bytes: Number, redis_used_memory_peak_bytes: Number },
      },
    },
    'the burst on ours',
  );
  const burst = result['burst'] as { acknowledged: number; memory: { coordinator_rss_peak_bytes: number; redis_used_memory_peak_bytes: number } };
  t.ok(burst.memory.coordinator_rss_peak_bytes > 10 * 1024 * 1024, 'a plausible coordinator RSS');
  t.ok(burst.memory.redis_used_memory_peak_bytes > 0, 'a Redis memory peak');
  t.equal((result.end_state as { records: { succeed: number } }).records.succeed, burst.acknowledged, 'every acknowledged saga succeeded in the store');
});
