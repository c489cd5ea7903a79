/**
 * The benchmark harness (issue 5): `npm run bench -- <workload|all> [--concurrency N]
 * [--duration S] [--workers N] [--warmup S] …`. See bench/README.md.
 *
 * One run, all on 127.0.0.1 and bounded in time: a private redis-server with ../redis.conf in a
 * temporary directory → the Redis ceiling with redis-benchmark → FLUSHALL → the stub business
 * service (child process) → the coordinator (`node dist/src/main.js --workers N`, or an external
 * one with --dtm-url) → the load driver (child process) → warm-up → measured window (burst: the
 * burst, lib/burst.ts) → drain (until no transaction is scheduled) → the end-state checks → one
 * JSON line on stdout. Progress lines go to stderr.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createKeys } from '../src/store/keys.js';
import { parseArgs, USAGE, UsageError, type Options } from './lib/args.js';
import { startBenchRedis } from './lib/bench-redis.js';
import { runBurst } from './lib/burst.js';
import { say, sleep, stopChild } from './lib/children.js';
import { coordinatorSettings, externalCoordinator, startCoordinator, type Coordinator } from './lib/coordinator.js';
import { cpuMeter, forkDriver, startDriver, type CpuSnapshot } from './lib/driver-proc.js';
import { answeredGids, checkByQuery, checkEndState, checkFlashEnd, dueCount, type EndState } from './lib/end-state.js';
import type { DriverConfig } from './lib/ipc.js';
import { luaCommands, snapshot } from './lib/redis-info.js';
import { markdownTable, type BenchResult } from './lib/report.js';
import { buildResult, type Mark } from './lib/result.js';
import { startFlash, startStub, type BusinessService } from './lib/services.js';
import { FLASH_TAG, isFlash, WORKLOAD_NAMES, WORKLOADS, type WorkloadName } from './workloads.js';

// BENCH_ROOT: the repository, when the harness runs from a build elsewhere (test/bench compiles it to a temporary directory).
const ROOT = process.env['BENCH_ROOT'] ?? fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/main.js');

/** The coordinator runs with its defaults: prefix 'dtm', 64 buckets → keys `{dtm:<b>}:due` etc. */
const PREFIX = 'dtm';
const BUCKETS = 64;

/** How long to wait for scheduled transactions after the window, unless --drain says. */
const DEFAULT_DRAIN_S = 30;
const DEFAULT_BURST_DRAIN_S = 600;

function resultsDir(opts: Options): string {
  return opts.resultsDir ?? join(ROOT, 'bench/results');
}

async function runWorkload(name: WorkloadName, opts: Options): Promise<BenchResult> {
  const workload = WORKLOADS[name];
  const tag = `[${name}]`;
  const redis = await startBenchRedis(opts, tag);
  let stub: BusinessService | undefined;
  let coordinator: Coordinator | undefined;
  let driverChild: ChildProcess | undefined;
  try {
    const admin = redis.admin;
    const flash = isFlash(name);
    // The stub business service (the flash workloads start the flash service in its place, once
    // the coordinator is up: it needs the coordinator's URL).
    if (!flash) stub = await startStub(name, opts.grpcBranches);

    let profDir: string | undefined;
    if (opts.cpuProf) {
      profDir = join(resultsDir(opts), 'prof', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      say(`${tag} CPU profiles of the coordinator process(es)${flash ? ' and the flash service' : ''} go to ${profDir}`);
    }
    if (opts.dtmUrl !== undefined) {
      coordinator = await externalCoordinator(opts);
      say(`${tag} measuring the external coordinator at ${coordinator.url}${opts.dtmPid !== undefined ? ` (pid ${opts.dtmPid})` : ''}`);
    } else {
      coordinator = await startCoordinator({ main: MAIN, redisUrl: redis.url, opts, grpc: workload.transport === 'grpc', profDir, tag });
    }
    const coord = coordinator;
    if (workload.transport === 'grpc' && coord.grpcAddress === undefined) throw new UsageError(`${name} against --dtm-url needs --dtm-grpc host:port`);

    const stockInitial = workload.stock ?? 0;
    if (flash) {
      stub = await startFlash({
        redisUrl: redis.url,
        coordinatorUrl: coord.url,
        stock: stockInitial,
        execArgv: profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      });
      say(`${tag} flash service on ${stub.url}, stock ${stockInitial}`);
    }
    if (stub === undefined) throw new Error('no business service started');
    const busi = stub;

    const child = await forkDriver();
    driverChild = child;
    const pids: Record<string, () => number[]> = {
      coordinator: () => coord.pids(),
      redis: () => [redis.pid],
      stub: () => [busi.pid],
      driver: () => [child.pid!],
    };
    // Pinning (--pin): with four busy processes on two cores the scheduler's placement alone moves
    // results by ±20%; a fixed layout makes that visible and repeatable.
    for (const [role, cpus] of Object.entries(opts.pin)) {
      for (const pid of pids[role]?.() ?? []) execFileSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' });
    }
    const meter = cpuMeter(pids);
    const keys = createKeys(PREFIX, BUCKETS);
    const before = await snapshot(admin);
    // Flash gids carry the hash tag of the stock key, as DTM's `{a}-<uuid>` (cluster-safe barrier keys).
    const runId = `${flash ? `${FLASH_TAG}-` : ''}bench-${name}-${Date.now().toString(36)}`;
    const cfg: DriverConfig = {
      workload: name,
      coordinatorUrl: coord.url,
      stubUrl: busi.url,
      concurrency: opts.concurrency,
      runId,
      sampleSize: opts.sampleSize,
      // Against an external coordinator the end state is read through its API: every gid of a workload that runs on in the background.
      trackAll: coord.external && workload.background === true,
      ...(coord.grpcAddress !== undefined ? { grpcAddress: coord.grpcAddress } : {}),
    };
    const common = {
      name,
      opts,
      root: ROOT,
      redis,
      coordinator: coord,
      settings: coord.external ? {} : coordinatorSettings(ROOT, process.env),
      luaCommands: luaCommands(ROOT),
      machinePct: (a: CpuSnapshot, b: CpuSnapshot, k: 'mIdle' | 'mSteal') => meter.machinePct(a, b, k),
      roles: Object.keys(pids),
    };

    if (workload.loop === 'open') {
      const burst = await runBurst({ cfg, child, meter, tag, opts, admin, keys, coordinator: coord, stub: busi, drainS: opts.drainS ?? DEFAULT_BURST_DRAIN_S });
      const out = buildResult({ ...common, before, ...burst.facts });
      Object.assign(out, { burst: burst.report });
      return out;
    }

    const driver = startDriver(child, cfg, tag, meter);
    await sleep(opts.warmupS * 1000);
    const s0: Mark = { t: performance.now(), info: await snapshot(admin), cpu: meter.now() };
    driver.mark();
    driver.phase = 'measure';
    await sleep(opts.durationS * 1000);
    const s1: Mark = { t: performance.now(), info: await snapshot(admin), cpu: meter.now() };
    const result = await driver.stop();

    // Drain: wait until no transaction is scheduled (background rounds of `submit` finish here).
    const drainDeadline = Date.now() + (opts.drainS ?? DEFAULT_DRAIN_S) * 1000;
    let end: EndState;
    let backlog: number | null;
    let drainS: number;
    if (coord.external) {
      // Only the API: read gids back until final (every gid for a background workload, else the sample).
      say(`${tag} reading the end state back through ${coord.url}/api/dtmsvr/query…`);
      const q = await checkByQuery(coord.url, answeredGids(result, runId, workload.failRate), result, drainDeadline);
      ({ end, drainS } = q);
      backlog = q.unfinishedAtStart;
    } else {
      const drainStart = performance.now();
      backlog = await dueCount(admin, keys);
      let left = backlog;
      while (left > 0 && Date.now() < drainDeadline) {
        await sleep(100);
        left = await dueCount(admin, keys);
      }
      drainS = (performance.now() - drainStart) / 1000;
      if (backlog > 0) say(`${tag} drained ${backlog} scheduled transactions in ${drainS.toFixed(1)} s (${left} left)`);
      say(`${tag} checking the end state…`);
      end = await checkEndState(admin, keys, coord.url, result);
    }
    const after = await snapshot(admin);
    const stubStats = await busi.stats();
    const flashEnd = flash ? await checkFlashEnd(admin, stockInitial, result) : undefined;
    return buildResult({
      ...common,
      before,
      after,
      s0,
      s1,
      tx: result.window.done,
      seconds: result.windowS,
      result,
      stub: stubStats,
      end,
      flashEnd,
      backlog,
      drainS,
    });
  } finally {
    await stopChild(driverChild, 3000);
    await coordinator?.stop();
    await stub?.stop();
    await redis.stop();
  }
}

/** Replaces the block between the results markers in bench/README.md with `table`. */
function updateReadme(table: string): void {
  const file = join(ROOT, 'bench/README.md');
  if (!existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  writeFileSync(file, `${text.slice(0, a + start.length)}\n${table}${text.slice(b)}`);
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) usage(err.message);
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const { target, opts } = parsed;
  const results = resultsDir(opts);
  mkdirSync(results, { recursive: true });
  if (target === 'all') {
    // Against an external coordinator, grpc-saga needs its gRPC address.
    const skipReason = (n: WorkloadName): string | undefined =>
      WORKLOADS[n].notInAll ??
      (WORKLOADS[n].transport === 'grpc' && opts.dtmUrl !== undefined && opts.dtmGrpc === undefined ? 'needs --dtm-grpc with --dtm-url' : undefined);
    const runnable = WORKLOAD_NAMES.filter((n) => skipReason(n) === undefined);
    const skipped = WORKLOAD_NAMES.filter((n) => skipReason(n) !== undefined);
    const all: BenchResult[] = [];
    writeFileSync(join(results, 'latest.jsonl'), '');
    for (const n of runnable) {
      const r = await runWorkload(n, opts);
      all.push(r);
      process.stdout.write(JSON.stringify(r) + '\n');
      writeFileSync(join(results, 'latest.jsonl'), all.map((x) => JSON.stringify(x)).join('\n') + '\n');
    }
    for (const s of skipped) say(`[${s}] skipped: ${skipReason(s)}`);
    const table = markdownTable(
      all,
      skipped.map((n) => ({ name: n, reason: skipReason(n) ?? '' })),
    );
    writeFileSync(join(results, 'latest.md'), `# Latest benchmark results\n\n${table}`);
    if (opts.dtmUrl === undefined && opts.resultsDir === undefined) updateReadme(table);
    say(`wrote ${results}/latest.md and latest.jsonl\n\n${table}`);
    if (all.some((r) => !r.end_state_ok)) process.exitCode = 1;
    return;
  }
  const r = await runWorkload(target as WorkloadName, opts);
  writeFileSync(join(results, `last-${target}.json`), JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(JSON.stringify(r) + '\n');
  if (!r.end_state_ok) process.exitCode = 1;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) usage(err.message);
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
