/**
 * Upgrades a dataset written by an older coordinator, once, at start-up.
 *
 * Schema 1 → 2: schema 2 keeps, per bucket, the finished transactions still in the listing index
 * in `{p:b}:fin` (so pruneIndex can drop them exactly when their record expires) and the count
 * of unfinished transactions by status in `{p:b}:stats`. The migration walks each bucket's
 * listing index once to build both, and drops the entries whose record is already gone.
 *
 * One coordinator migrates while the others wait for it (a lock in Redis). Coordinators of the
 * old version must be stopped first: they would keep writing without the new bookkeeping.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Keys } from './keys.js';
import type { RedisClient } from './redis.js';
import { TRANS_FIELD } from './schema.js';

/** The schema this build reads and writes; bump it when a script's semantics or the layout change incompatibly. */
export const SCHEMA_VERSION = '2';

/** How long a migration may hold the lock before another coordinator may take over. */
const LOCK_MS = 10 * 60_000;
const BATCH = 500;

const UNFINISHED = ['prepared', 'submitted', 'aborting'] as const;

/**
 * Brings the dataset to SCHEMA_VERSION if it is older, or waits while another coordinator does.
 * @throws when the dataset is newer than this build, or of a schema it cannot migrate.
 */
export async function migrateSchema(client: RedisClient, keys: Keys, clock: Clock, log: Logger, finishedDataExpireS: number): Promise<void> {
  const meta = keys.meta();
  const deadline = Date.now() + LOCK_MS;
  for (;;) {
    const schema = await client.hget(meta, 'schema');
    if (schema === SCHEMA_VERSION) return;
    if (schema !== '1') throw new Error(`dataset schema ${schema} is not one this build (schema ${SCHEMA_VERSION}) reads or migrates`);
    const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    if ((await client.set(keys.migrationLock(), token, 'PX', LOCK_MS, 'NX')) === 'OK') {
      log.warn({ from: schema, to: SCHEMA_VERSION }, 'migrating the dataset to this build’s schema (stop coordinators of the old version first)');
      try {
        for (let b = 0; b < keys.buckets; b++) await migrateBucket(client, keys, b, clock.now(), finishedDataExpireS);
        await client.hset(meta, 'schema', SCHEMA_VERSION);
        log.warn({ schema: SCHEMA_VERSION }, 'dataset migrated');
      } finally {
        await client.del(keys.migrationLock());
      }
      return;
    }
    if (Date.now() > deadline) throw new Error('another coordinator has been migrating the dataset for 10 minutes; check its log');
    log.info('another coordinator is migrating the dataset; waiting for it');
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Builds `fin` and `stats` of one bucket from its listing index, dropping entries whose record is gone. */
async function migrateBucket(client: RedisClient, keys: Keys, bucket: number, now: number, finishedDataExpireS: number): Promise<void> {
  const idx = keys.idx(bucket);
  const counts: Record<string, number> = Object.fromEntries(UNFINISHED.map((s) => [s, 0]));
  // Unfinished gids with their status: ZSCAN may return a gid twice, so count each once at the end.
  const seen = new Map<string, string>();
  let cursor = '0';
  do {
    // ZSCAN tolerates the removals below; a repeated gid is absorbed by ZADD, ZREM and `seen`.
    const [next, flat] = await client.zscan(idx, cursor, 'COUNT', BATCH);
    cursor = next;
    const gids = flat.filter((_, i) => i % 2 === 0);
    if (gids.length === 0) continue;
    const read = client.pipeline();
    for (const gid of gids) read.hget(keys.trans(gid), TRANS_FIELD.status).pttl(keys.trans(gid));
    const replies = ((await read.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const write = client.pipeline();
    gids.forEach((gid, i) => {
      const status = replies[2 * i] as string | null;
      const pttl = Number(replies[2 * i + 1]);
      if (status === null) write.zrem(idx, gid);
      else if (status === 'succeed' || status === 'failed') write.zadd(keys.fin(bucket), now + (pttl >= 0 ? pttl : finishedDataExpireS * 1000), gid);
      else seen.set(gid, status);
    });
    await write.exec();
  } while (cursor !== '0');
  for (const status of seen.values()) counts[status] = (counts[status] ?? 0) + 1;
  await client.hset(keys.stats(bucket), counts);
}
