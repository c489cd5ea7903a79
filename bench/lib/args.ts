/**
 * The harness's command line (bench/README.md, "Run"): `parseArgs` turns argv into Options, or
 * throws a UsageError (the caller prints it with the usage and exits 2). Pure, so that it can be
 * tested without starting anything.
 */
import { WORKLOAD_NAMES, WORKLOADS } from '../workloads.js';

export interface Options {
  concurrency: number;
  durationS: number;
  warmupS: number;
  workers: number;
  ceiling: boolean;
  cpuProf: boolean;
  sampleSize: number;
  /** How long to wait after the window for scheduled transactions to finish; undefined: the workload's default. */
  drainS: number | undefined;
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
  /**
   * An external DTM-compatible coordinator to measure instead of starting ours: its base URL
   * (`http://host:port`; a trailing `/api/dtmsvr` is dropped).
   */
  dtmUrl: string | undefined;
  /** The external coordinator's gRPC address (`host:port`), for grpc-saga with --dtm-url. */
  dtmGrpc: string | undefined;
  /** The external coordinator's process id on this host: its CPU and RSS are then measured too. */
  dtmPid: number | undefined;
  /** burst: the sustainable rate (tx/s); undefined: measured with a closed-loop saga-e2e probe. */
  rate: number | undefined;
  /** burst: the offered rate is this many times the sustainable rate. */
  burstFactor: number;
  /** burst: most connections (requests in flight) of the open-loop driver. */
  connections: number;
  /** grpc-saga: the branches are gRPC calls to the gRPC stub, or HTTP calls to the HTTP stub. */
  grpcBranches: 'grpc' | 'http';
  /** Where last-<workload>.json, latest.{md,jsonl} and profiles go; undefined: bench/results. */
  resultsDir: string | undefined;
}

/** A bad command line: the message says what, the caller adds the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run bench -- <workload|all> [--concurrency N] [--duration S] [--warmup S] [--workers N]
                  [--no-ceiling] [--cpu-prof] [--sample N] [--drain S] [--appendonly yes|no] [--appendfsync always|everysec|no]
                  [--redis-arg "name value"]… [--pin coordinator=1,redis=1,stub=0,driver=0]
                  [--replicas N] [--wait-replicas N]
                  [--dtm-url http://host:port [--dtm-grpc host:port] [--dtm-pid PID]]
                  [--rate N] [--burst-factor X] [--connections N] [--grpc-branches grpc|http] [--results-dir DIR]
workloads:
${WORKLOAD_NAMES.map((n) => `  ${n.padEnd(18)} ${WORKLOADS[n].summary}`).join('\n')}
  all                runs every workload and writes bench/results/latest.{md,jsonl}`;

/**
 * Parses argv (without node and the script). `env` gives defaults (DESIGN.md §9): CONCURRENCY,
 * DURATION_S, WARMUP_S, WORKERS. Returns `help: true` for --help.
 */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): { target: string; opts: Options; help: boolean } {
  const envNum = (k: string, d: number): number => {
    const v = Number(env[k]);
    return env[k] !== undefined && Number.isFinite(v) && v > 0 ? v : d;
  };
  const opts: Options = {
    concurrency: Math.floor(envNum('CONCURRENCY', 50)),
    durationS: envNum('DURATION_S', 10),
    warmupS: envNum('WARMUP_S', 2),
    workers: Math.floor(envNum('WORKERS', 1)),
    ceiling: true,
    cpuProf: false,
    sampleSize: 256,
    drainS: undefined,
    appendonly: undefined,
    appendfsync: undefined,
    redisArgs: [],
    pin: {},
    replicas: 0,
    waitReplicas: 0,
    dtmUrl: undefined,
    dtmGrpc: undefined,
    dtmPid: undefined,
    rate: undefined,
    burstFactor: 10,
    connections: 1000,
    grpcBranches: 'grpc',
    resultsDir: undefined,
  };
  let target: string | undefined;
  const numArg = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} needs a number ≥ ${min}, got ${String(v)}`);
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
          if (m === null) throw new UsageError(`--pin needs role=cpus pairs (roles: coordinator, redis, stub, driver), got ${JSON.stringify(part)}`);
          opts.pin[m[1]!] = m[2]!;
        }
        break;
      }
      case '--redis-arg': {
        const r = value();
        if (r === undefined || !/^[a-z-]+ \S/.test(r.trim())) throw new UsageError(`--redis-arg needs "name value", got ${String(r)}`);
        opts.redisArgs.push(r.trim());
        break;
      }
      case '--replicas':
        opts.replicas = Math.floor(numArg(a, value(), 0));
        break;
      case '--wait-replicas':
        opts.waitReplicas = Math.floor(numArg(a, value(), 0));
        break;
      case '--dtm-url':
        opts.dtmUrl = dtmBaseUrl(value());
        break;
      case '--dtm-grpc': {
        const g = value();
        if (g === undefined || !/^[^\s/:]+:\d+$/.test(g)) throw new UsageError(`--dtm-grpc needs host:port, got ${String(g)}`);
        opts.dtmGrpc = g;
        break;
      }
      case '--dtm-pid':
        opts.dtmPid = Math.floor(numArg(a, value(), 1));
        break;
      case '--rate':
        opts.rate = numArg(a, value(), 1);
        break;
      case '--burst-factor':
        opts.burstFactor = numArg(a, value(), 1);
        break;
      case '--connections':
        opts.connections = Math.floor(numArg(a, value(), 1));
        break;
      case '--grpc-branches': {
        const b = value();
        if (b !== 'grpc' && b !== 'http') throw new UsageError(`--grpc-branches needs grpc or http, got ${String(b)}`);
        opts.grpcBranches = b;
        break;
      }
      case '--results-dir': {
        const d = value();
        if (d === undefined || d === '') throw new UsageError('--results-dir needs a directory');
        opts.resultsDir = d;
        break;
      }
      case '--help':
      case '-h':
        return { target: '', opts, help: true };
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        if (target !== undefined) throw new UsageError(`one workload at a time (or all), got ${target} and ${a}`);
        target = a;
    }
  }
  if (target === undefined) throw new UsageError('which workload?');
  if (target !== 'all' && !Object.hasOwn(WORKLOADS, target)) throw new UsageError(`unknown workload ${target}`);
  if (opts.waitReplicas > opts.replicas) throw new UsageError(`--wait-replicas ${opts.waitReplicas} needs at least as many --replicas`);
  if (opts.dtmUrl === undefined && (opts.dtmGrpc !== undefined || opts.dtmPid !== undefined))
    throw new UsageError('--dtm-grpc and --dtm-pid go with --dtm-url');
  if (opts.dtmUrl !== undefined) {
    // These shape the coordinator we start; an external one is whatever it is.
    const ours = [
      ['--workers', opts.workers !== 1],
      ['--cpu-prof', opts.cpuProf],
      ['--wait-replicas', opts.waitReplicas > 0],
    ] as const;
    const bad = ours.filter(([, set]) => set).map(([n]) => n);
    if (bad.length > 0) throw new UsageError(`${bad.join(', ')} shape the coordinator the harness starts, not an external one (--dtm-url)`);
  }
  return { target, opts, help: false };
}

/** `http://host:port[/api/dtmsvr][/]` → `http://host:port` (the harness adds the API paths). */
export function dtmBaseUrl(v: string | undefined): string {
  let u: URL;
  try {
    u = new URL(v ?? '');
  } catch {
    throw new UsageError(`--dtm-url needs an http(s) URL such as http://127.0.0.1:36789, got ${String(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--dtm-url needs an http(s) URL, got ${String(v)}`);
  if (u.search !== '' || u.hash !== '') throw new UsageError(`--dtm-url takes no query or fragment, got ${String(v)}`);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/dtmsvr$/, '');
  return `${u.protocol}//${u.host}${path}`;
}
