/**
 * Process entry: load the configuration, find or start Redis, start the app, and stop cleanly
 * on SIGTERM/SIGINT.
 */
import { resolve } from 'node:path';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { isListening, startEmbeddedRedis, type EmbeddedRedis } from './store/embedded-redis.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);

  let embedded: EmbeddedRedis | undefined;
  let redisUrl: string | undefined;
  if (config.redisUrl === undefined && config.clusterNodes.length === 0) {
    if (await isListening('127.0.0.1', 6379)) {
      redisUrl = 'redis://127.0.0.1:6379';
      log.info({ redis: redisUrl }, 'no Redis configured; using the one answering on 127.0.0.1:6379');
    } else {
      const dir = resolve(process.env['DTM_DATA_DIR'] ?? '.data/redis');
      embedded = await startEmbeddedRedis({ dir });
      redisUrl = embedded.url;
      log.warn({ redis: redisUrl, dir }, 'no Redis configured and none on 127.0.0.1:6379: started a private redis-server child (development default; set STORE_HOST or REDIS_URL in production)');
    }
  }

  const app = createApp(config, { logger: log, ...(redisUrl !== undefined ? { redisUrl } : {}) });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'start-up failed');
    await embedded?.stop();
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => embedded?.stop())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();
