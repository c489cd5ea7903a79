/**
 * The coordinator under test: ours (`node dist/src/main.js --workers N`, started here with the
 * bench Redis and otherwise its defaults and the caller's environment), or an external
 * DTM-compatible one (--dtm-url) that the harness only talks to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from '../../src/store/embedded-redis.js';
import type { Options } from './args.js';
import { say, sleep, stopChild } from './children.js';
import { childrenOf, cpuUs } from './proc.js';

export interface Coordinator {
  /** http://host:port (the API is under /api/dtmsvr). */
  url: string;
  /** host:port of its gRPC API, when it serves one (ours only for grpc-saga; external: --dtm-grpc). */
  grpcAddress: string | undefined;
  /** Whether the harness started it (and so knows its store and can read its Redis figures). */
  external: boolean;
  /** Its processes on this host (for CPU and RSS); empty for an external one without --dtm-pid. */
  pids(): number[];
  /** The HTTP server it logged (`uWebSockets.js (native)`, `node:http`), or `external`. */
  httpServer: string;
  stop(): Promise<void>;
}

/**
 * The HTTP server the coordinator's processes serve with, from their `HTTP server listening`
 * lines (e.g. `uWebSockets.js (native)` or `node:http`); several are joined.
 */
export function httpServerOf(log: string): string {
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

/** Settings the harness sets itself, and secrets, which the result does not record. */
const NOT_RECORDED = new Set(['REDIS_URL', 'HTTP_PORT', 'HTTP_HOST', 'LOG_LEVEL', 'GRPC_PORT', 'STORE_WAIT_REPLICAS', 'API_TOKEN', 'ADMIN_TOKEN']);

/**
 * The coordinator settings (names read from src/config.ts) present in `env`: what the caller of
 * `npm run bench` passed through to our coordinator, e.g. `MAX_INFLIGHT_ROUNDS`.
 */
export function coordinatorSettings(root: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const file = join(root, 'src/config.ts');
  if (!existsSync(file)) return {};
  const names = new Set([...readFileSync(file, 'utf8').matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]!));
  const out: Record<string, string> = {};
  for (const n of [...names].sort()) {
    const v = env[n];
    if (v !== undefined && !NOT_RECORDED.has(n) && !/PASSWORD|TOKEN|SECRET/.test(n)) out[n] = v;
  }
  return out;
}

/** An external coordinator: checks that it answers, and measures nothing of it but what --dtm-pid allows. */
export async function externalCoordinator(opts: Options): Promise<Coordinator> {
  const url = opts.dtmUrl!;
  // DTM answers /api/dtmsvr/newGid on every version; a 200 says the URL is a DTM-compatible server.
  const res = await request(`${url}/api/dtmsvr/newGid`).catch((err: unknown) => {
    throw new Error(`--dtm-url ${url}: no answer (${(err as Error).message})`);
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`--dtm-url ${url}: /api/dtmsvr/newGid answered ${res.statusCode} ${text.slice(0, 200)}`);
  const pid = opts.dtmPid;
  return {
    url,
    grpcAddress: opts.dtmGrpc,
    external: true,
    pids: () => (pid === undefined ? [] : [pid, ...childrenOf(pid)]),
    httpServer: 'external',
    stop: () => Promise.resolve(),
  };
}

/**
 * Starts ours on a free port with REDIS_URL and waits until it (and each of its workers) serves.
 * The environment passes through (HTTP_BACKEND, MAX_INFLIGHT_ROUNDS, …); LOG_LEVEL is info: only
 * start-up and shutdown log at info, and the start-up lines name the HTTP server.
 */
export async function startCoordinator(args: {
  main: string;
  redisUrl: string;
  opts: Pick<Options, 'workers' | 'waitReplicas'>;
  grpc: boolean;
  /** --cpu-prof: the directory for the profiles. */
  profDir: string | undefined;
  tag: string;
}): Promise<Coordinator> {
  const { opts, tag } = args;
  const port = await freePort();
  const grpcPort = args.grpc ? await freePort() : 0;
  const nodeArgs: string[] = [];
  if (args.profDir !== undefined) {
    mkdirSync(args.profDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${args.profDir}`);
  }
  const coord: ChildProcess = spawn(process.execPath, [...nodeArgs, args.main, '--workers', String(opts.workers)], {
    env: {
      ...process.env,
      REDIS_URL: args.redisUrl,
      HTTP_PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      STORE_WAIT_REPLICAS: String(opts.waitReplicas),
      GRPC_PORT: String(grpcPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keepOut = (d: Buffer): void => {
    out = (out + d.toString()).slice(-8000);
  };
  coord.stdout?.on('data', keepOut);
  coord.stderr?.on('data', keepOut);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (coord.exitCode !== null) return;
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
  };
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (coord.exitCode !== null) throw new Error(`the coordinator exited at start-up: ${out}`);
      if (Date.now() > deadline) throw new Error(`the coordinator did not start within 20 s: ${out}`);
      let up = false;
      try {
        const res = await request(`${url}/api/ping`);
        await res.body.dump();
        up = res.statusCode === 200;
      } catch {
        // not yet
      }
      if (up && childrenOf(coord.pid!).length >= opts.workers - 1 && (!args.grpc || out.includes('gRPC server listening'))) break;
      await sleep(50);
    }
    if (opts.workers > 1) await sleep(500); // the last worker to fork is still binding its port
  } catch (err) {
    await stop();
    throw err;
  }
  const httpServer = httpServerOf(out);
  say(`${tag} the coordinator serves HTTP with ${httpServer}${args.grpc ? ` and gRPC on 127.0.0.1:${grpcPort}` : ''}`);
  return {
    url,
    grpcAddress: args.grpc ? `127.0.0.1:${grpcPort}` : undefined,
    external: false,
    pids: () => [coord.pid!, ...childrenOf(coord.pid!)],
    httpServer,
    stop,
  };
}
