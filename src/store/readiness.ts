/**
 * Readiness of the store: every Redis master answers, and holds every script (loaded here when
 * missing, e.g. on a replica just promoted, so the first transitions after a failover do not pay
 * for ioredis's NOSCRIPT round trip).
 */
import { createHash } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './redis.js';
import { SCRIPTS, scriptSource } from './scripts.js';

const SOURCES = SCRIPTS.map((def) => scriptSource(def.name));
const SHAS = SOURCES.map((src) => createHash('sha1').update(src).digest('hex'));

/** Every master of the client: the client itself, or each master of a cluster. */
function masters(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Loads the scripts a server lacks; resolves how many it loaded. */
async function ensureScripts(node: Redis): Promise<number> {
  const present = (await node.script('EXISTS', ...SHAS)) as number[];
  const missing = SOURCES.filter((_, i) => present[i] !== 1);
  for (const src of missing) await node.script('LOAD', src);
  return missing.length;
}

/**
 * Checks every master; resolves undefined when the store can take traffic, or why it cannot.
 * Never throws.
 */
export async function storeNotReadyReason(client: RedisClient): Promise<string | undefined> {
  const nodes = masters(client);
  if (nodes.length === 0) return 'no Redis Cluster master is known yet';
  const results = await Promise.allSettled(nodes.map((n) => ensureScripts(n)));
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed === -1) return undefined;
  const node = nodes[failed]!;
  const reason = (results[failed] as PromiseRejectedResult).reason as Error;
  return `Redis ${node.options.host ?? '?'}:${node.options.port ?? '?'} does not answer: ${reason.message}`;
}

/** Loads every script on every master (at start-up); resolves how many were loaded. */
export async function loadScripts(client: RedisClient): Promise<number> {
  const loaded = await Promise.all(masters(client).map((n) => ensureScripts(n)));
  return loaded.reduce((a, b) => a + b, 0);
}
