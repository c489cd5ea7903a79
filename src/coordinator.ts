/**
 * Runs the coordinator in this process, in one of two roles. The primary chooses Redis (starting
 * or reusing the private server when none is configured), logs the start-up banner, starts the
 * app and, with `--workers N`, forks and supervises the other processes; SIGTERM/SIGINT stop the
 * app, then the workers, then the private Redis. A forked worker gets Redis and the port from the
 * primary in its environment, starts the app, and stops on a signal or when the primary is gone.
 */
import cluster from 'node:cluster';
import { createApp } from './app.js';
import { startupBanner } from './banner.js';
import { packageVersion } from './version.js';
import type { Config } from './config.js';
import { adminWarnings } from './http/access.js';
import { createLogger, type Logger } from './log.js';
import { onShutdown } from './shutdown.js';
import { freePort } from './store/embedded-redis.js';
import { resolveRedisTarget, type RedisTarget } from './store/redis-target.js';
import { serveAsWorker, superviseWorkers, type Supervisor } from './supervisor.js';

/** Runs as the primary, or as a worker when node:cluster forked this process. */
export async function runCoordinator(config: Config): Promise<void> {
  const base = createLogger(config.logLevel);
  // With several processes every line says which one wrote it (the primary is worker 0).
  const log = cluster.isWorker || config.workers > 1 ? base.child({ pid: process.pid, worker: cluster.worker?.id ?? 0 }) : base;
  if (cluster.isWorker) await runWorker(config, log);
  else await runPrimary(config, log);
}

async function runWorker(config: Config, log: Logger): Promise<void> {
  // Workers bind the port the primary bound, on purpose (SO_REUSEPORT).
  const app = createApp(config, { logger: log, sharePort: true, role: 'worker' });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    process.exit(1);
  }
  serveAsWorker(onShutdown(log, 'worker shutting down', () => app.stop()));
}

async function runPrimary(config: Config, log: Logger): Promise<void> {
  let target: RedisTarget;
  try {
    target = await resolveRedisTarget(config);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed: no Redis');
    process.exit(1);
  }
  const embedded = target.mode === 'embedded' ? target.server : undefined;
  // Every process must bind the same port: with port 0, the primary picks one for all.
  if (config.workers > 1 && config.httpPort === 0) config = Object.freeze({ ...config, httpPort: await freePort() });

  logRedisChoice(log, target);

  // The URL of a Redis found or started here; a configured one is in the config already.
  const redisUrl = target.mode === 'local' || target.mode === 'embedded' ? target.url : undefined;
  const role = config.workers > 1 ? 'primary' : 'single';
  const app = createApp(config, { logger: log, sharePort: config.workers > 1, role, ...(redisUrl !== undefined ? { redisUrl } : {}) });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    await embedded?.stop();
    process.exit(1);
  }
  // Logged once serving, so it names the HTTP backend that HTTP_BACKEND=auto actually chose.
  log.info(startupBanner(config, target, packageVersion(), app.httpBackend() ?? 'none'), 'dtm-redis started');
  for (const warning of adminWarnings(config)) log.warn({ host: config.httpHost }, warning);

  let supervisor: Supervisor | undefined;
  if (config.workers > 1) {
    const env: Record<string, string> = { HTTP_PORT: String(config.httpPort), ...(redisUrl !== undefined ? { REDIS_URL: redisUrl } : {}) };
    supervisor = superviseWorkers({ count: config.workers - 1, env, log });
    log.info({ workers: config.workers, port: config.httpPort }, 'started worker processes sharing the HTTP port (SO_REUSEPORT)');
  }

  onShutdown(log, 'shutting down', async () => {
    await Promise.all([app.stop(), supervisor?.stop()]);
    await embedded?.stop();
  });
}

/** Says which Redis was chosen when it was not configured, and warns where that matters. */
function logRedisChoice(log: Logger, target: RedisTarget): void {
  if (target.mode === 'local') log.info({ redis: target.url }, 'no Redis configured; using the one answering on 127.0.0.1:6379');
  if (target.mode !== 'embedded') return;
  const { server } = target;
  const fields = { redis: server.url, dir: server.dir, pid: server.pid };
  if (server.origin === 'reused') {
    log.info(
      fields,
      'using the private redis-server already running for this data directory (another process started it; it keeps running after this one stops)',
    );
    return;
  }
  if (target.dirFromConfig) log.info(fields, 'started a private redis-server child in DTM_DATA_DIR');
  else {
    log.warn(
      fields,
      'no Redis configured and none on 127.0.0.1:6379: started a private redis-server child (development default; set STORE_HOST or REDIS_URL in production)',
    );
  }
  if (!server.diesWithParent) {
    log.warn('setpriv (util-linux) not found: the redis-server child outlives this process if it is killed with SIGKILL (the next start reuses it)');
  }
}
