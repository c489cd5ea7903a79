/**
 * Process entry: load the configuration, find or start Redis, start the app, and stop cleanly
 * on SIGTERM/SIGINT.
 *
 * `--workers N` (or `--workers=N`, or env `DTM_WORKERS`) runs N processes on one host: this one
 * (the primary) and N-1 forked with node:cluster. They share the HTTP port through SO_REUSEPORT,
 * asked for on purpose (`sharePort`): each process binds the same port itself and the kernel
 * spreads new connections over them; cluster's own handle sharing plays no part (uWS does not
 * listen through Node's net module, and the node:http backend binds with `exclusive: true`).
 * A single process binds its port exclusively, so a second coordinator on a busy port fails at
 * start-up instead of silently splitting the traffic with the first.
 * All state is in Redis, so the processes need nothing from each other; the primary resolves
 * Redis once (starting the embedded server if needed) and hands the URL and port to the workers.
 */
import cluster, { type Worker } from 'node:cluster';
import { resolve } from 'node:path';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { freePort, isListening, startEmbeddedRedis, type EmbeddedRedis } from './store/embedded-redis.js';

/** The process count from `--workers N`, `--workers=N` or DTM_WORKERS. @default 1 */
function parseWorkers(argv: readonly string[], env: Record<string, string | undefined>): number {
  let raw: string | undefined = env['DTM_WORKERS'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--workers') {
      raw = argv[i + 1];
      if (raw === undefined) throw new ConfigError('--workers', 'needs a number');
    } else if (a.startsWith('--workers=')) {
      raw = a.slice('--workers='.length);
    }
  }
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError('--workers', `must be a whole number from 1 to 256, got ${JSON.stringify(raw)}`);
  return n;
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

async function main(): Promise<void> {
  let config: Config;
  let workers: number;
  try {
    config = loadConfig();
    workers = cluster.isWorker ? 1 : parseWorkers(process.argv.slice(2), process.env);
  } catch (err) {
    fail(err);
  }
  const multi = cluster.isWorker || workers > 1;
  const base = createLogger(config.logLevel);
  // With several processes every line says which one wrote it (the primary is worker 0).
  const log: Logger = multi ? base.child({ pid: process.pid, worker: cluster.worker?.id ?? 0 }) : base;

  let embedded: EmbeddedRedis | undefined;
  let redisUrl: string | undefined;
  if (cluster.isPrimary && config.redisUrl === undefined && config.clusterNodes.length === 0) {
    if (await isListening('127.0.0.1', 6379)) {
      redisUrl = 'redis://127.0.0.1:6379';
      log.info({ redis: redisUrl }, 'no Redis configured; using the one answering on 127.0.0.1:6379');
    } else {
      const dir = resolve(process.env['DTM_DATA_DIR'] ?? '.data/redis');
      embedded = await startEmbeddedRedis({ dir });
      redisUrl = embedded.url;
      log.warn(
        { redis: redisUrl, dir },
        'no Redis configured and none on 127.0.0.1:6379: started a private redis-server child (development default; set STORE_HOST or REDIS_URL in production)',
      );
    }
  }
  // Every process must bind the same port: with port 0, the primary picks one for all.
  if (cluster.isPrimary && workers > 1 && config.httpPort === 0) config = Object.freeze({ ...config, httpPort: await freePort() });

  const app = createApp(config, { logger: log, sharePort: multi, ...(redisUrl !== undefined ? { redisUrl } : {}) });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    await embedded?.stop();
    process.exit(1);
  }

  if (cluster.isWorker) {
    const shutdown = onShutdown(log, 'worker shutting down', () => app.stop());
    // The primary is gone (even by kill -9): do not linger holding the port.
    process.on('disconnect', () => shutdown.begin('primary gone'));
    process.send?.({ ready: true, pid: process.pid });
    return;
  }

  // The primary: fork the other workers with the resolved Redis URL and port, and keep them up.
  const children = new Set<Worker>();
  const restarts: number[] = [];
  const workerEnv: Record<string, string> = { HTTP_PORT: String(config.httpPort) };
  if (redisUrl !== undefined) workerEnv['REDIS_URL'] = redisUrl;
  const fork = (): void => {
    const w = cluster.fork(workerEnv);
    children.add(w);
    w.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready === true) log.info({ child: w.process.pid }, 'worker ready');
    });
    w.on('exit', (code, signal) => {
      children.delete(w);
      if (shutdown.stopping) return;
      const now = Date.now();
      while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length >= 5) {
        log.error({ child: w.process.pid, code, signal }, 'worker exited; 5 restarts in the last minute already, not restarting it');
        return;
      }
      restarts.push(now);
      log.error({ child: w.process.pid, code, signal }, 'worker exited unexpectedly; restarting it in 1 s');
      setTimeout(() => {
        if (!shutdown.stopping) fork();
      }, 1000).unref();
    });
  };
  for (let i = 1; i < workers; i++) fork();
  if (workers > 1) log.info({ workers, port: config.httpPort }, 'started worker processes sharing the HTTP port (SO_REUSEPORT)');

  const stopWorkers = async (): Promise<void> => {
    const exits = [...children].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of children) w.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const w of children) w.process.kill('SIGKILL');
    }, 10_000);
    await Promise.all(exits);
    clearTimeout(timer);
  };

  const shutdown = onShutdown(log, 'shutting down', async () => {
    await Promise.all([app.stop(), stopWorkers()]);
    await embedded?.stop();
  });
}

/**
 * Stops the process once, on SIGTERM or SIGINT (or `begin`): runs `stop`, then exits 0, or 1 when
 * it failed. `stopping` tells other handlers (worker restarts) that shutdown has begun.
 */
function onShutdown(log: Logger, message: string, stop: () => Promise<unknown>): Shutdown {
  const s: Shutdown = {
    stopping: false,
    begin(reason) {
      if (s.stopping) return;
      s.stopping = true;
      log.info({ reason }, message);
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
  };
  process.on('SIGTERM', () => s.begin('SIGTERM'));
  process.on('SIGINT', () => s.begin('SIGINT'));
  return s;
}

interface Shutdown {
  stopping: boolean;
  begin(reason: string): void;
}

await main();
