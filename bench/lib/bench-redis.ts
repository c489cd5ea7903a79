/**
 * The bench's own Redis: a private redis-server with ../redis.conf (and the run's persistence and
 * extra settings) on a free port in a temporary directory, its replicas (--replicas), the Redis
 * ceiling measured on it, and then a clean slate for the run (FLUSHALL, SCRIPT FLUSH, a compact
 * AOF, CONFIG RESETSTAT).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startEmbeddedRedis } from '../../src/store/embedded-redis.js';
import type { Options } from './args.js';
import { measureCeiling, type Ceiling } from './ceiling.js';
import { say, sleep } from './children.js';
import { snapshot } from './redis-info.js';

export interface BenchRedis {
  url: string;
  pid: number;
  admin: Redis;
  version: string;
  appendonly: string;
  appendfsync: string;
  ceiling: Ceiling | undefined;
  stop(): Promise<void>;
}

export async function startBenchRedis(opts: Options, tag: string): Promise<BenchRedis> {
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
  const replicas: { stop(): Promise<void> }[] = [];
  const stop = async (): Promise<void> => {
    admin.disconnect();
    await Promise.all(replicas.map((r) => r.stop()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Replicas (for --wait-replicas), each in its own directory, online before the run starts.
    replicas.push(
      ...(await Promise.all(
        Array.from({ length: opts.replicas }, (_, i) =>
          startEmbeddedRedis({ dir: join(dir, `replica-${i}`), extraArgs: [...extraArgs, '--replicaof', '127.0.0.1', String(redis.port)] }),
        ),
      )),
    );
    // Online, not just connected: a replica still loading its first sync acknowledges nothing.
    // (`?? 0`: with no replica there is no match at all, and main's loop waited 30 s for one.)
    for (const until = Date.now() + 30_000; ((await admin.info('replication')).match(/state=online/g)?.length ?? 0) !== opts.replicas;) {
      if (Date.now() > until) throw new Error(`the ${opts.replicas} replicas did not come online within 30 s`);
      await sleep(50);
    }
    const [, appendonly = '?'] = await admin.config('GET', 'appendonly');
    const [, appendfsync = '?'] = await admin.config('GET', 'appendfsync');
    const version = (await snapshot(admin)).fields.get('redis_version') ?? '?';
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
    return { url: redis.url, pid: redis.process.pid!, admin, version, appendonly, appendfsync, ceiling, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
