/**
 * Creates the Redis client (single node or cluster) and runs the start-up checks: server
 * version ≥ 7.0 (script shebangs), an eviction policy that cannot drop state, and a bucket
 * count that matches the one the dataset was created with.
 */
import { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Keys } from './keys.js';
import { defineScripts } from './scripts.js';
import { eachNode } from './each-node.js';
import { migrateSchema, SCHEMA_VERSION } from './migrate.js';
import { watchClusterForStalls, watchForStalls } from './stall-watchdog.js';
import { coalesceRedisWrites } from './write-coalescing.js';

export type RedisClient = Redis | Cluster;

/** How long a command may wait for an answer before it fails and the connection is reset. */
const STALL_TIMEOUT_MS = 5000;

/** Connects to the configured Redis (`url` overrides the config, e.g. an embedded server). */
export function createRedis(config: Config, url?: string): RedisClient {
  const common = {
    // Fail a command instead of queueing it forever while Redis is down; callers get a clear 503.
    maxRetriesPerRequest: 1,
    enableAutoPipelining: config.redisAutoPipelining,
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
    lazyConnect: true,
  };
  let client: RedisClient;
  if (config.clusterNodes.length > 0) {
    client = new Cluster(
      config.clusterNodes.map((n) => {
        const [host, port] = n.split(':');
        return { host: host!, port: Number(port) };
      }),
      {
        redisOptions: { ...common, ...(config.redisPassword !== undefined ? { password: config.redisPassword } : {}) },
        enableAutoPipelining: common.enableAutoPipelining,
        lazyConnect: true,
      },
    );
  } else {
    const target = url ?? config.redisUrl ?? 'redis://127.0.0.1:6379';
    client = new Redis(target, { ...common, ...(config.redisPassword !== undefined ? { password: config.redisPassword } : {}) });
  }
  defineScripts(client);
  coalesceRedisWrites(client);
  // Commands fail after 5 s without an answer (see stall-watchdog.ts for why not commandTimeout),
  // and on a cluster also after 5 s without any node to send them to.
  eachNode(client, (node) => watchForStalls(node, STALL_TIMEOUT_MS));
  if (client instanceof Cluster) watchClusterForStalls(client, STALL_TIMEOUT_MS);
  return client;
}

/**
 * Connects and checks the server, or every master of a cluster (each holds a share of the
 * transactions, so each must be able to keep them). Throws with a clear message when a server
 * cannot hold our data safely or the dataset was created with another bucket count.
 */
export async function checkRedis(client: RedisClient, keys: Keys, log: Logger, migration: { clock: Clock; finishedDataExpireS: number }): Promise<void> {
  await client.connect();
  for (const server of client instanceof Cluster ? client.nodes('master') : [client]) await checkServer(server, log);
  const meta = keys.meta();
  await client.hsetnx(meta, 'buckets', String(keys.buckets));
  await client.hsetnx(meta, 'schema', SCHEMA_VERSION);
  const buckets = await client.hget(meta, 'buckets');
  if (buckets !== String(keys.buckets)) {
    throw new Error(`this dataset was created with STORE_BUCKETS=${buckets}, not ${keys.buckets}; changing it needs a migration`);
  }
  await migrateSchema(client, keys, migration.clock, log, migration.finishedDataExpireS);
}

/** The version and settings checks of one server; `server` in messages names it on a cluster. */
async function checkServer(redis: Redis, log: Logger): Promise<void> {
  const server = `${redis.options.host ?? '?'}:${redis.options.port ?? '?'}`;
  const info = await redis.info('server');
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  if (version === null || Number(version[1]) < 7) {
    throw new Error(`Redis ${version?.[1] ?? '?'}.${version?.[2] ?? '?'} at ${server} is too old: script shebangs need Redis 7.0 or newer`);
  }
  try {
    const policy = await redis.config('GET', 'maxmemory-policy');
    if (policy[1] !== 'noeviction') {
      log.warn({ server, policy: policy[1] }, 'Redis maxmemory-policy is not noeviction: Redis may evict transactions under memory pressure');
    }
    const listpack = await redis.config('GET', 'hash-max-listpack-value');
    if (Number(listpack[1]) < 256) {
      log.warn(
        { server, value: listpack[1] },
        'Redis hash-max-listpack-value is below 256: transactions with real branch URLs will take 2-3x the memory (see redis.conf)',
      );
    }
  } catch {
    // CONFIG may be disabled on managed Redis; the warning is best effort.
  }
}
