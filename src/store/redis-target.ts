/**
 * Which Redis the coordinator uses. A configured one (STORE_HOST, REDIS_URL) always wins. With
 * none configured: DTM_DATA_DIR set means the private server in that directory; unset, whatever
 * answers on 127.0.0.1:6379, else the private server in `.data/redis`. The private server is a
 * development convenience (see data-dir-redis.ts); production configures its Redis.
 */
import { resolve } from 'node:path';
import type { Config } from '../config.js';
import { openDataDirRedis, type DataDirRedis } from './data-dir-redis.js';
import { isListening } from './embedded-redis.js';

/** Where the coordinator's Redis is, and how it was chosen. */
export type RedisTarget =
  /** STORE_HOST (one host) or REDIS_URL. */
  | { readonly mode: 'configured'; readonly url: string }
  /** STORE_HOST listing several `host:port` seeds. */
  | { readonly mode: 'cluster'; readonly nodes: readonly string[] }
  /** None configured; found answering on 127.0.0.1:6379. */
  | { readonly mode: 'local'; readonly url: string }
  /** None configured; the data directory's private redis-server. */
  | { readonly mode: 'embedded'; readonly url: string; readonly server: DataDirRedis; readonly dirFromConfig: boolean };

/** The default data directory of the private server, relative to the working directory. */
const DEFAULT_DATA_DIR = '.data/redis';

/** Chooses the Redis (starting or reusing the private server when that is the choice). */
export async function resolveRedisTarget(config: Config): Promise<RedisTarget> {
  if (config.clusterNodes.length > 0) return { mode: 'cluster', nodes: config.clusterNodes };
  if (config.redisUrl !== undefined) return { mode: 'configured', url: config.redisUrl };
  if (config.dataDir === undefined && (await isListening('127.0.0.1', 6379))) return { mode: 'local', url: 'redis://127.0.0.1:6379' };
  const server = await openDataDirRedis({ dir: config.dataDir ?? resolve(DEFAULT_DATA_DIR) });
  return { mode: 'embedded', url: server.url, server, dirFromConfig: config.dataDir !== undefined };
}
