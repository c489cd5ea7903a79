/**
 * The benchmark harness (issue 5): `npm run bench -- <workload|all> [--concurrency N]
 * [--duration S] [--workers N] [--warmup S] …`. See bench/README.md.
 *
 * One run, all on 127.0.0.1 and bounded in time: a private redis-server with ../redis.conf in a
 * temporary directory → the Redis ceiling with redis-benchmark → FLUSHALL → the stub business
 * service (child process) → the coordinator (`node dist/src/main.js --workers N`) → the load driver
 * (child process) → warm-up → measured window → drain (until no transaction is scheduled) → the
 * end-state checks → one JSON line on stdout. Progress lines go to stderr.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { freePort, startEmbeddedRedis } from '../src/store/embedded-redis.js';
import { createKeys, type Keys } from '../src/store/keys.js';
import { measureCeiling, type Ceiling } from './lib/ceiling.js';
import { cpuInfo, gitRevision } from './lib/env.js';
import type { DriverConfig, DriverResult, DriverTick, StubStats } from './lib/ipc.js';
import { childrenOf, cpuUs, cpuUsOf, machineCpu } from './lib/proc.js';
import { commandDelta, dbKeys, num, parseInfo, redisCpuUs, type RedisSnapshot } from './lib/redis-info.js';
import { markdownTable, type BenchEnv, type BenchResult } from './lib/report.js';
import { round } from './lib/stats.js';
import { flashKeys } from './flash-service.js';
import { FLASH_TAG, isFlash, isWorkloadName, WORKLOAD_NAMES, WORKLOADS, type WorkloadName } from './workloads.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/main.js');
const DRIVER = fileURLToPath(new URL('./driver.js', import.meta.url));
const STUB = fileURLToPath(new URL('./stub.js', import.meta.url));
const FLASH = fileURLToPath(new URL('./flash-service.js', import.meta.url));
const RESULTS = join(ROOT, 'bench/results');

/** The coordinator runs with its defaults: prefix 'dtm', 64 buckets → keys `{dtm:<b>}:due` etc. */
const PREFIX = 'dtm';
const BUCKETS = 64;

interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
  workers: number;
  ceiling: boolean;
  cpuProf: boolean;
  sampleSize: number;
  drainS: number;
  appendonly: string | undefined;
  appendfsync: string | undefined;
  /** Extra redis-server settings, e.g. "hash-max-listpack-value 256". */
  redisArgs: string[];
  /** CPU list per process role, applied with taskset once all are up; empty = no pinning. */
  pin: Record<string, string>;
  /** Replicas of the bench Redis to start (each a redis-server with --replicaof). */
  replicas: number;
  /** STORE_WAIT_REPLICAS for the coordinator: acknowledged writes wait for this many replicas. */
  waitReplicas: number;
}

const USAGE = `usage: npm run bench -- <workload|all> [--concurrency N] [--duration S] [--warmup S] [--workers N]
                  [--no-ceiling] [--cpu-prof] [--sample N] [--drain S] [--appendonly yes|no] [--appendfsync always|everysec|no]
                  [--redis-arg "name value"]… [--pin coordinator=1,redis=1,stub=0,driver=0]
                  [--replicas N] [--wait-replicas N]
workloads:
${WORKLOAD_NAMES.map((n) => `  ${n.padEnd(18)} ${WORKLOADS[n].summary}${WORKLOADS[n].notImplemented ? ' (not implemented yet)' : ''}`).join('\n')}
  all                runs every implemented workload and writes bench/results/latest.{md,jsonl}`;

function parseArgs(argv: string[]): { target: string; opts: Options } {
  // Defaults may come from the environment too (DESIGN.md §9): CONCURRENCY, DURATION_S, WARMUP_S, WORKERS.
  const envNum = (k: string, d: number): number => {
    const v = Number(process.env[k]);
    return process.env[k] !== undefined && Number.isFinite(v) && v > 0 ? v : d;
  };
  const opts: Options = {
    concurrency: Math.floor(envNum('CONCURRENCY', 50)),
    durationS: envNum('DURATION_S', 10),
    warmupS: envNum('WARMUP_S', 2),
    workers: Math.floor(envNum('WORKERS', 1)),
    ceiling: true,
    cpuProf: false,
    sampleSize: 256,
    drainS: 30,
    appendonly: undefined,
    appendfsync: undefined,
    redisArgs: [],
    pin: {},
    replicas: 0,
    waitReplicas: 0,
  };
  let target: string | undefined;
  const numArg = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) usage(`${name} needs a number ≥ ${min}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string | undefined => v ?? argv[++i];
    switch (a) {
      case '--concurrency':
      case '-c':
        opts.concurrency = Math.floor(numArg(a, value(), 1));
        break;
      case '--duration':
      case '-d':
        opts.durationS = numArg(a, value(), 0.5);
        break;
      case '--warmup':
        opts.warmupS = numArg(a, value(), 0);
        break;
      case '--workers':
        opts.workers = Math.floor(numArg(a, value(), 1));
        break;
      case '--sample':
        opts.sampleSize = Math.floor(numArg(a, value(), 1));
        break;
      case '--drain':
        opts.drainS = numArg(a, value(), 1);
        break;
      case '--no-ceiling':
        opts.ceiling = false;
        break;
      case '--cpu-prof':
        opts.cpuProf = true;
        break;
      case '--appendonly':
        opts.appendonly = value();
        break;
      case '--appendfsync':
        opts.appendfsync = value();
        break;
      case '--pin': {
        const spec = value() ?? '';
        for (const part of spec.split(',')) {
          const m = /^(coordinator|redis|stub|driver)=([0-9][0-9,-]*)$/.exec(part.trim());
          if (m === null) usage(`--pin needs role=cpus pairs (roles: coordinator, redis, stub, driver), got ${JSON.stringify(part)}`);
          opts.pin[m[1]!] = m[2]!;
        }
        break;
      }
      case '--redis-arg': {
        const r = value();
        if (r === undefined || !/^[a-z-]+ \S/.test(r.trim())) usage(`--redis-arg needs "name value", got ${String(r)}`);
        opts.redisArgs.push(r.trim());
        break;
      }
      case '--replicas':
        opts.replicas = Math.floor(numArg(a, value(), 0));
        break;
      case '--wait-replicas':
        opts.waitReplicas = Math.floor(numArg(a, value(), 0));
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        if (a.startsWith('-')) usage(`unknown option ${a}`);
        if (target !== undefined) usage(`one workload at a time (or all), got ${target} and ${a}`);
        target = a;
    }
  }
  if (target === undefined) usage('which workload?');
  if (opts.waitReplicas > opts.replicas) usage(`--wait-replicas ${opts.waitReplicas} needs at least as many --replicas`);
  return { target, opts };
}

function usage(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

const say = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every command our Lua scripts call (lower-case), to tell script-inner commands from client ones. */
function luaCommands(): Set<string> {
  const out = new Set<string>();
  const dirs = [join(ROOT, 'lua'), join(ROOT, 'lua/lib'), join(ROOT, 'lua/client')];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.lua')) continue;
      const text = readFileSync(join(d, f), 'utf8');
      for (const m of text.matchAll(/(?:rcall|redis\.p?call)\(\s*['"]([A-Za-z]+)['"]/g)) out.add(m[1]!.toLowerCase());
    }
  }
  return out;
}

/** Waits for a message of `type` from a child (rejects on exit or timeout). */
function waitMessage<T>(child: ChildProcess, type: string, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no '${type}' message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMsg = (m: unknown): void => {
      if ((m as { type?: string }).type === type) {
        cleanup();
        resolve(m as T);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what} exited (code ${code}) before sending '${type}'`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function info(admin: Redis): Promise<RedisSnapshot> {
  return parseInfo((await admin.call('INFO', 'server', 'stats', 'cpu', 'memory', 'commandstats', 'keyspace', 'persistence')) as string);
}

async function dueCount(admin: Redis, keys: Keys): Promise<number> {
  const p = admin.pipeline();
  for (let b = 0; b < keys.buckets; b++) p.zcard(keys.due(b));
  const res = (await p.exec()) ?? [];
  return res.reduce((s, [err, n]) => s + (err ? 0 : Number(n)), 0);
}

interface EndState {
  ok: boolean;
  sample_checked: number;
  sample_bad: number;
  sample_bad_examples: string[];
  due_finished: number;
  due_unfinished: number;
  records: Record<string, number>;
  expected: { succeed: number; failed: number };
}

/**
 * The end-state checks, after the drain:
 * 1. a sample (≥ 200) of the transactions the driver counted as done, read back through the
 *    coordinator's /api/dtmsvr/query: each must have the status its answer implied;
 * 2. the due ZSETs `{dtm:<b>}:due` (the retry schedules): none of their gids may be finished
 *    (succeed/failed), and after the drain none should be left at all;
 * 3. counting: every record listed in the `{dtm:<b>}:idx` ZSETs, by status, must match what the
 *    driver counted (succeed = its 200s, failed = its expected 409s): nothing lost or duplicated.
 */
async function checkEndState(admin: Redis, keys: Keys, coordinatorUrl: string, result: DriverResult): Promise<EndState> {
  let bad = 0;
  const badExamples: string[] = [];
  const sample = result.sample;
  for (let i = 0; i < sample.length; i += 16) {
    await Promise.all(
      sample.slice(i, i + 16).map(async ({ gid, expect }) => {
        let status: string;
        try {
          const res = await request(`${coordinatorUrl}/api/dtmsvr/query?gid=${encodeURIComponent(gid)}`);
          const body = (await res.body.json()) as { transaction?: { status?: string } | null };
          status = body.transaction?.status ?? 'missing';
        } catch (err) {
          status = `error ${(err as Error).message}`;
        }
        if (status !== expect) {
          bad++;
          if (badExamples.length < 5) badExamples.push(`${gid}: ${status} (expected ${expect})`);
        }
      }),
    );
  }

  let dueFinished = 0;
  let dueUnfinished = 0;
  for (let b = 0; b < keys.buckets; b++) {
    const gids = await admin.zrange(keys.due(b), '0', '-1');
    if (gids.length === 0) continue;
    const p = admin.pipeline();
    for (const g of gids) p.hget(keys.trans(g), 's');
    for (const [, s] of (await p.exec()) ?? []) {
      if (s === 'succeed' || s === 'failed') dueFinished++;
      else dueUnfinished++;
    }
  }

  const records: Record<string, number> = {};
  for (let b = 0; b < keys.buckets; b++) {
    const gids = await admin.zrange(keys.idx(b), '0', '-1');
    for (let i = 0; i < gids.length; i += 5000) {
      const p = admin.pipeline();
      for (const g of gids.slice(i, i + 5000)) p.hget(keys.trans(g), 's');
      for (const [, s] of (await p.exec()) ?? []) {
        const k = typeof s === 'string' ? s : 'missing';
        records[k] = (records[k] ?? 0) + 1;
      }
    }
  }
  const expected = { succeed: result.total.succeed, failed: result.total.failed };
  const got = (k: string): number => records[k] ?? 0;
  const others = Object.entries(records)
    .filter(([k]) => k !== 'succeed' && k !== 'failed')
    .reduce((s, [, n]) => s + n, 0);
  // With driver errors (a reply lost or refused) the record may still exist: then only "at least".
  const countsOk =
    result.total.errors === 0
      ? got('succeed') === expected.succeed && got('failed') === expected.failed && others === 0
      : got('succeed') >= expected.succeed && got('failed') >= expected.failed;
  return {
    ok: bad === 0 && sample.length >= Math.min(200, expected.succeed + expected.failed) && dueFinished === 0 && dueUnfinished === 0 && countsOk,
    sample_checked: sample.length,
    sample_bad: bad,
    sample_bad_examples: badExamples,
    due_finished: dueFinished,
    due_unfinished: dueUnfinished,
    records,
    expected,
  };
}

/**
 * The HTTP server the coordinator's processes serve with, from their `HTTP server listening`
 * lines (e.g. `uWebSockets.js (native)` or `node:http`); several are joined.
 */
function httpServerOf(log: string): string {
  const servers = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { msg?: string; server?: string };
      if (rec.msg === 'HTTP server listening' && typeof rec.server === 'string') servers.add(rec.server);
    } catch {
      // not a log line
    }
  }
  return servers.size === 0 ? 'unknown' : [...servers].join(' + ');
}

async function runWorkload(name: WorkloadName, opts: Options): Promise<BenchResult> {
  const workload = WORKLOADS[name];
  const tag = `[${name}]`;
  const dir = mkdtempSync(join(tmpdir(), 'dtm-bench-'));
  const extraArgs: string[] = [];
  if (opts.appendonly !== undefined) extraArgs.push('--appendonly', opts.appendonly);
  if (opts.appendfsync !== undefined) extraArgs.push('--appendfsync', opts.appendfsync);
  for (const r of opts.redisArgs) {
    const sp = r.indexOf(' ');
    extraArgs.push(`--${r.slice(0, sp)}`, r.slice(sp + 1));
  }
  const redis = await startEmbeddedRedis({ dir, extraArgs });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1, enableAutoPipelining: false });
  // Replicas (for --wait-replicas), each in its own directory, online before the run starts.
  const replicas = await Promise.all(
    Array.from({ length: opts.replicas }, (_, i) =>
      startEmbeddedRedis({ dir: join(dir, `replica-${i}`), extraArgs: [...extraArgs, '--replicaof', '127.0.0.1', String(redis.port)] }),
    ),
  );
  // Online, not just connected: a replica still loading its first sync acknowledges nothing.
  for (const until = Date.now() + 30_000; (await admin.info('replication')).match(/state=online/g)?.length !== opts.replicas;) {
    if (Date.now() > until) throw new Error(`the ${opts.replicas} replicas did not come online within 30 s`);
    await sleep(50);
  }
  let stub: ChildProcess | undefined;
  let coord: ChildProcess | undefined;
  let driver: ChildProcess | undefined;
  let coordOut = '';
  try {
    const [, appendonly = '?'] = await admin.config('GET', 'appendonly');
    const [, appendfsync = '?'] = await admin.config('GET', 'appendfsync');
    const serverInfo = await info(admin);
    const redisVersion = serverInfo.fields.get('redis_version') ?? '?';

    let ceiling: Ceiling | undefined;
    if (opts.ceiling) {
      say(`${tag} measuring the Redis ceiling with redis-benchmark (SET and EVALSHA, -P 1 and -P 16, c=50)…`);
      ceiling = await measureCeiling(redis.port, admin);
      say(
        `${tag} Redis ceiling: EVALSHA HSET+ZADD ${Math.round(ceiling.evalshaP1)} req/s (-P 1), ${Math.round(ceiling.evalshaP16)} (-P 16); ` +
          `SET ${Math.round(ceiling.setP1)} (-P 1), ${Math.round(ceiling.setP16)} (-P 16)`,
      );
    }
    await admin.flushall();
    await admin.script('FLUSH');
    if (appendonly === 'yes') {
      // Start from a compact AOF, so a rewrite of the ceiling's writes does not land in the window.
      await admin.bgrewriteaof().catch(() => undefined);
      const until = Date.now() + 30_000;
      while (Date.now() < until && /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await admin.info('persistence'))) await sleep(50);
    }
    await admin.config('RESETSTAT');

    // The stub business service.
    // The stub business service (the flash workloads start the flash service in its place, once
    // the coordinator is up: it needs the coordinator's URL).
    const flash = isFlash(name);
    let stubUrl = '';
    if (!flash) {
      stub = fork(STUB, ['0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
      const stubPort = (await waitMessage<{ port: number }>(stub, 'ready', 10_000, 'the stub')).port;
      stubUrl = `http://127.0.0.1:${stubPort}`;
    }

    // The coordinator.
    const port = await freePort();
    const nodeArgs: string[] = [];
    if (opts.cpuProf) {
      const profDir = join(RESULTS, 'prof', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(profDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
      say(`${tag} CPU profiles of the coordinator process(es)${isFlash(name) ? ' and the flash service' : ''} go to ${profDir}`);
    }
    coord = spawn(process.execPath, [...nodeArgs, MAIN, '--workers', String(opts.workers)], {
      // info: the start-up lines name the HTTP backend (HTTP_BACKEND passes through); nothing logs at info per request.
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        HTTP_PORT: String(port),
        HTTP_HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        STORE_WAIT_REPLICAS: String(opts.waitReplicas),
        GRPC_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keepOut = (d: Buffer): void => {
      coordOut = (coordOut + d.toString()).slice(-8000);
    };
    coord.stdout?.on('data', keepOut);
    coord.stderr?.on('data', keepOut);
    const coordinatorUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (coord.exitCode !== null) throw new Error(`the coordinator exited at start-up: ${coordOut}`);
      if (Date.now() > deadline) throw new Error(`the coordinator did not start within 20 s: ${coordOut}`);
      let up = false;
      try {
        const res = await request(`${coordinatorUrl}/api/ping`);
        await res.body.dump();
        up = res.statusCode === 200;
      } catch {
        // not yet
      }
      if (up && childrenOf(coord.pid!).length >= opts.workers - 1) break;
      await sleep(50);
    }
    if (opts.workers > 1) await sleep(500); // the last worker to fork is still binding its port
    const httpServer = httpServerOf(coordOut);
    say(`${tag} the coordinator serves HTTP with ${httpServer}`);
    const coordPids = [coord.pid!, ...childrenOf(coord.pid!)];

    // The flash sale's business service, with its stock set, in the stub's place.
    const stockInitial = workload.stock ?? 0;
    if (flash) {
      stub = fork(FLASH, [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // --cpu-prof profiles the flash service too (into the same directory).
        execArgv: nodeArgs,
        env: { ...process.env, PORT: '0', REDIS_URL: redis.url, DTM: `${coordinatorUrl}/api/dtmsvr`, STOCK: String(stockInitial) },
      });
      const flashPort = (await waitMessage<{ port: number }>(stub, 'ready', 10_000, 'the flash service')).port;
      stubUrl = `http://127.0.0.1:${flashPort}`;
      say(`${tag} flash service on ${stubUrl}, stock ${stockInitial}`);
    }
    if (stub === undefined) throw new Error('no business service started');
    const busi: ChildProcess = stub;

    // The load driver.
    driver = fork(DRIVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    await waitMessage(driver, 'ready', 10_000, 'the driver');
    const keys = createKeys(PREFIX, BUCKETS);
    const before = await info(admin);
    // Flash gids carry the hash tag of the stock key, as DTM's `{a}-<uuid>` (cluster-safe barrier keys).
    const runId = `${flash ? `${FLASH_TAG}-` : ''}bench-${name}-${Date.now().toString(36)}`;
    const cfg: DriverConfig = { workload: name, coordinatorUrl, stubUrl, concurrency: opts.concurrency, runId, sampleSize: opts.sampleSize };

    // Progress: one line a second from the driver's ticks, with the CPU share of each process.
    let phase = 'warm-up';
    const pids = { coordinator: coordPids, redis: [redis.process.pid!], stub: [busi.pid!], driver: [driver.pid!] };
    // Pinning (--pin): with four busy processes on two cores the scheduler's placement alone moves
    // results by ±20%; a fixed layout makes that visible and repeatable.
    for (const [role, cpus] of Object.entries(opts.pin)) {
      for (const pid of (pids as Record<string, number[]>)[role] ?? []) execFileSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' });
    }
    // Per process CPU µs, and machine-wide jiffies (idle and steal, to see whether the box is saturated).
    const cpuNow = (): Record<string, number> => {
      const m = machineCpu();
      return { ...Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuUsOf(p)])), mBusy: m.busy, mIdle: m.idle, mSteal: m.steal };
    };
    const machinePct = (a: Record<string, number>, b: Record<string, number>, k: 'mIdle' | 'mSteal'): number => {
      const all = b['mBusy']! - a['mBusy']! + (b['mIdle']! - a['mIdle']!) + (b['mSteal']! - a['mSteal']!);
      return all > 0 ? (100 * (b[k]! - a[k]!)) / all : 0;
    };
    let lastCpu = { t: performance.now(), v: cpuNow() };
    driver.on('message', (raw: unknown) => {
      const m = raw as DriverTick;
      if (m.type !== 'tick') return;
      const now = { t: performance.now(), v: cpuNow() };
      const dt = (now.t - lastCpu.t) * 1000;
      const prev = lastCpu;
      const pct = (k: string): string => String(Math.round((100 * ((now.v[k] ?? 0) - (prev.v[k] ?? 0))) / dt)).padStart(3);
      lastCpu = now;
      say(
        `${tag} ${phase.padEnd(7)} ${m.elapsedS.toFixed(0).padStart(3)} s  ${String(m.done).padStart(6)} tx/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  ` +
          `errors ${m.errors}  cpu% coord ${pct('coordinator')} redis ${pct('redis')} stub ${pct('stub')} driver ${pct('driver')}  machine idle ${Math.round(machinePct(prev.v, now.v, 'mIdle'))}%`,
      );
    });

    driver.send({ type: 'start', config: cfg });
    await sleep(opts.warmupS * 1000);
    const s0 = { t: performance.now(), info: await info(admin), cpu: cpuNow() };
    driver.send({ type: 'mark' });
    phase = 'measure';
    await sleep(opts.durationS * 1000);
    const s1 = { t: performance.now(), info: await info(admin), cpu: cpuNow() };
    const resultP = waitMessage<DriverResult>(driver, 'result', 30_000, 'the driver');
    driver.send({ type: 'stop' });
    phase = 'stop';
    const result = await resultP;

    // Drain: wait until no transaction is scheduled (background rounds of `submit` finish here).
    const drainStart = performance.now();
    const backlog = await dueCount(admin, keys);
    let left = backlog;
    while (left > 0 && performance.now() - drainStart < opts.drainS * 1000) {
      await sleep(100);
      left = await dueCount(admin, keys);
    }
    const drainS = (performance.now() - drainStart) / 1000;
    if (backlog > 0) say(`${tag} drained ${backlog} scheduled transactions in ${drainS.toFixed(1)} s (${left} left)`);
    const after = await info(admin);

    busi.send({ type: 'stats' });
    const stubStats = await waitMessage<StubStats>(busi, 'stats', 5000, 'the stub');
    say(`${tag} checking the end state…`);
    const end = await checkEndState(admin, keys, coordinatorUrl, result);
    const flashEnd = flash ? await checkFlashEnd(admin, stockInitial, result) : undefined;

    // Per-transaction figures over the measured window.
    const tx = result.window.done;
    const per = (x: number): number => (tx > 0 ? x / tx : NaN);
    const cmd = commandDelta(s0.info, s1.info, luaCommands());
    const windowMs = s1.t - s0.t;
    const cpuDelta = (k: string): number => (s1.cpu[k] ?? 0) - (s0.cpu[k] ?? 0);
    const finished = result.total.succeed + result.total.failed;
    const txPerS = tx / result.windowS;
    const rtPerTx = per(cmd.roundTrips);
    const branchCalls = Object.values(stubStats.calls).reduce((a, b) => a + b, 0);
    const env: BenchEnv = {
      node: process.version,
      redis: redisVersion,
      appendonly,
      appendfsync,
      cpu_count: cpuInfo().count,
      cpu_model: cpuInfo().model,
      git: gitRevision(ROOT),
      concurrency: opts.concurrency,
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      workers: opts.workers,
      http_server: httpServer,
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
      date: new Date().toISOString(),
    };
    const out: BenchResult = {
      workload: name,
      tx_per_s: round(txPerS, 0),
      p50_ms: round(result.latencyMs.p50),
      p90_ms: round(result.latencyMs.p90),
      p99_ms: round(result.latencyMs.p99),
      p999_ms: round(result.latencyMs.p999),
      max_ms: round(result.latencyMs.max),
      errors: result.window.errors,
      redis_round_trips_per_tx: round(rtPerTx),
      redis_commands_per_tx: round(per(cmd.commands)),
      redis_cpu_us_per_tx: round(per(redisCpuUs(s1.info) - redisCpuUs(s0.info)), 1),
      coordinator_cpu_us_per_tx: round(per(cpuDelta('coordinator')), 1),
      stub_cpu_us_per_tx: round(per(cpuDelta('stub')), 1),
      driver_cpu_us_per_tx: round(per(cpuDelta('driver')), 1),
      redis_bytes_per_finished_tx: round(finished > 0 ? (num(after, 'used_memory') - num(before, 'used_memory')) / finished : NaN, 0),
      redis_keys_per_finished_tx: round(finished > 0 ? (dbKeys(after) - dbKeys(before)) / finished : NaN, 3),
      end_state_ok: end.ok && (flashEnd?.ok ?? true),
      end_state: end,
      redis_ceiling_rps_p1: ceiling ? round(ceiling.evalshaP1, 0) : null,
      redis_ceiling_rps_p16: ceiling ? round(ceiling.evalshaP16, 0) : null,
      redis_set_rps_p1: ceiling ? round(ceiling.setP1, 0) : null,
      redis_set_rps_p16: ceiling ? round(ceiling.setP16, 0) : null,
      ratio_to_redis_ceiling: ceiling ? round((txPerS * rtPerTx) / ceiling.evalshaP1, 3) : null,
      cpu_pct: {
        ...Object.fromEntries(Object.keys(pids).map((k) => [k, round((100 * cpuDelta(k)) / (windowMs * 1000), 0)])),
        machine_idle: round(machinePct(s0.cpu, s1.cpu, 'mIdle'), 0),
        machine_steal: round(machinePct(s0.cpu, s1.cpu, 'mSteal'), 0),
      },
      branch_calls_per_tx: round(finished > 0 ? branchCalls / (finished + result.total.errors) : NaN),
      redis_calls_per_tx: Object.fromEntries(Object.entries(cmd.perCommand).map(([k, v]) => [k, round(per(v), 3)])),
      tx_window: tx,
      tx_total: finished,
      rolled_back: result.total.failed,
      backlog_at_stop: backlog,
      drain_s: round(drainS),
      aof_forks: num(after, 'total_forks') - num(before, 'total_forks'),
      env,
    };
    if (flashEnd !== undefined) {
      const { ok: _ok, ...fields } = flashEnd;
      Object.assign(out, fields, { orders_per_s: round(result.window.succeed / result.windowS, 0) });
      out['note'] =
        'tx_per_s counts buy requests answered (200 bought, 409 sold out); each is a 2-phase msg: prepare, the Redis barrier deduction, then submit (its order step runs on the flash service) or abort. ' +
        'The Redis figures include the business scripts (barrier, order) on the same Redis.';
    }
    if (name === 'submit') {
      out['note'] =
        'tx_per_s counts acknowledged submits (durable in Redis); each saga then runs in the background in the same coordinator, ' +
        'and the per-tx CPU and Redis figures of the window include that background work; backlog_at_stop/drain_s show what was left';
    }
    if (workload.failRate > 0)
      out['note'] = `${Math.round(workload.failRate * 100)}% of transactions roll back (TransIn answers 409); their 409 is expected and counted as done`;
    if (result.errorSamples.length > 0) out['error_samples'] = result.errorSamples;
    if (ceiling) out['redis_ceiling_commands'] = ceiling.commands;
    return out;
  } finally {
    await stopChild(driver, 3000);
    if (coord !== undefined && coord.exitCode === null) {
      const workers = childrenOf(coord.pid!);
      await stopChild(coord, 15_000);
      for (const p of workers) {
        if (cpuUs(p) > 0) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    }
    await stopChild(stub, 3000);
    admin.disconnect();
    await Promise.all(replicas.map((r) => r.stop()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface FlashEnd {
  ok: boolean;
  stock_initial: number;
  stock_left: number;
  orders: number;
  order_set: number;
  oversold: number;
  conservation_ok: boolean;
}

/**
 * The flash sale's own end state (after the drain): stock never below zero (nothing oversold),
 * stock + orders = the initial stock (conservation), the order counter equals the order set,
 * and the orders equal the buyers answered 200 (exactly, when the driver saw no error; a lost
 * answer may still have bought).
 */
async function checkFlashEnd(admin: Redis, stockInitial: number, result: DriverResult): Promise<FlashEnd> {
  const k = flashKeys(FLASH_TAG);
  const [stockLeft, orders, orderSet] = await Promise.all([admin.get(k.stock), admin.get(k.orders), admin.scard(k.orderSet)]);
  const left = Number(stockLeft);
  const n = Number(orders);
  const oversold = Math.max(0, n - stockInitial, -left);
  const bought = result.total.succeed;
  const conservation = left >= 0 && left + n === stockInitial && n === orderSet && (result.total.errors === 0 ? n === bought : n >= bought);
  return {
    ok: conservation && oversold === 0,
    stock_initial: stockInitial,
    stock_left: left,
    orders: n,
    order_set: orderSet,
    oversold,
    conservation_ok: conservation,
  };
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

async function main(): Promise<void> {
  const { target, opts } = parseArgs(process.argv.slice(2));
  mkdirSync(RESULTS, { recursive: true });
  if (target === 'all') {
    const runnable = WORKLOAD_NAMES.filter((n) => WORKLOADS[n].notImplemented === undefined);
    const skipped = WORKLOAD_NAMES.filter((n) => WORKLOADS[n].notImplemented !== undefined);
    const results: BenchResult[] = [];
    writeFileSync(join(RESULTS, 'latest.jsonl'), '');
    for (const n of runnable) {
      const r = await runWorkload(n, opts);
      results.push(r);
      const line = JSON.stringify(r);
      process.stdout.write(line + '\n');
      writeFileSync(join(RESULTS, 'latest.jsonl'), results.map((x) => JSON.stringify(x)).join('\n') + '\n');
    }
    for (const s of skipped) say(`[${s}] skipped: ${WORKLOADS[s].notImplemented}`);
    const table = markdownTable(results, skipped);
    writeFileSync(join(RESULTS, 'latest.md'), `# Latest benchmark results\n\n${table}`);
    updateReadme(table);
    say(`wrote bench/results/latest.md and bench/results/latest.jsonl\n\n${table}`);
    if (results.some((r) => !r.end_state_ok)) process.exitCode = 1;
    return;
  }
  if (!isWorkloadName(target)) usage(`unknown workload ${target}`);
  const w = WORKLOADS[target];
  if (w.notImplemented !== undefined) {
    process.stderr.write(`${target}: ${w.notImplemented}\n`);
    process.exit(2);
  }
  const r = await runWorkload(target, opts);
  writeFileSync(join(RESULTS, `last-${target}.json`), JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(JSON.stringify(r) + '\n');
  if (!r.end_state_ok) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
