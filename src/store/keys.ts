/**
 * The only code that spells Redis keys (DESIGN.md §2).
 *
 * A transaction lives in one HASH `{<prefix>:<bucket>}:g:<gid>`; its bucket's retry schedule is
 * the ZSET `{<prefix>:<bucket>}:due` and its listing index the ZSET `{<prefix>:<bucket>}:idx`.
 * All three share the hash tag, so every transition is one script on one cluster slot. The gid
 * comes after the tag so braces in it could never move the slot (and we reject them anyway).
 *
 * The KV store (DTM's topics) has its own tag `{<prefix>:kv}`: a record HASH per (cat, key) and a
 * per-cat index ZSET of its keys, so listing a cat pages the index instead of SCANning the
 * keyspace, and every KV script runs on that one slot.
 */

/** 32-bit FNV-1a over the UTF-16 code units of `s` (gids are ASCII). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface Keys {
  readonly prefix: string;
  readonly buckets: number;
  bucketOf(gid: string): number;
  /** The hash tag of a bucket, braces included. */
  tag(bucket: number): string;
  /** Global record HASH of a transaction (global fields and its branches). */
  trans(gid: string): string;
  /** Retry schedule ZSET of a bucket: gid → next cron time (ms). */
  due(bucket: number): string;
  /** Listing index ZSET of a bucket: gid → create time (ms). */
  idx(bucket: number): string;
  /** Finished transactions of a bucket not yet pruned from its index: gid → when the record expires (ms). */
  fin(bucket: number): string;
  /** Unfinished transactions of a bucket by status (HASH status → count), kept by the scripts. */
  stats(bucket: number): string;
  /** Dataset metadata HASH (bucket count, schema version). */
  meta(): string;
  /** The lock one coordinator holds while it migrates the dataset (migrate.ts). */
  migrationLock(): string;
  /**
   * KV record HASH of (cat, key): `{<prefix>:kv}:r:<cat bytes>:<cat>:<key>`. The cat's UTF-8
   * length makes the spelling injective although cats and keys may hold `:` (and lets a script
   * check that the key it got is the one of its cat and key).
   */
  kv(cat: string, key: string): string;
  /** KV index ZSET of a cat: `{<prefix>:kv}:i:<cat>`, every key of the cat at score 0 (lexical order). */
  kvIdx(cat: string): string;
}

/** Builds the key speller for a prefix and a power-of-two bucket count. */
export function createKeys(prefix: string, buckets: number): Keys {
  if (/[{}]/.test(prefix)) throw new Error(`prefix must not contain braces: ${prefix}`);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 16384 || (buckets & (buckets - 1)) !== 0)
    throw new Error(`bucket count must be a power of two from 1 to 16384: ${buckets}`);
  const mask = buckets - 1;
  const tags = Array.from({ length: buckets }, (_, b) => `{${prefix}:${b}}`);
  const tag = (bucket: number): string => tags[bucket] ?? `{${prefix}:${bucket}}`;
  // Every transition names its bucket's keys: spelt once per bucket, not per call.
  const dues = tags.map((t) => `${t}:due`);
  const idxs = tags.map((t) => `${t}:idx`);
  const fins = tags.map((t) => `${t}:fin`);
  const stats = tags.map((t) => `${t}:stats`);
  const bucketOf = (gid: string): number => fnv1a32(gid) & mask;
  return {
    prefix,
    buckets,
    bucketOf,
    tag,
    trans: (gid) => `${tag(bucketOf(gid))}:g:${gid}`,
    due: (bucket) => dues[bucket] ?? `${tag(bucket)}:due`,
    idx: (bucket) => idxs[bucket] ?? `${tag(bucket)}:idx`,
    fin: (bucket) => fins[bucket] ?? `${tag(bucket)}:fin`,
    stats: (bucket) => stats[bucket] ?? `${tag(bucket)}:stats`,
    meta: () => `{${prefix}:meta}`,
    migrationLock: () => `{${prefix}:meta}:migrating`,
    kv: (cat, key) => `{${prefix}:kv}:r:${Buffer.byteLength(cat)}:${cat}:${key}`,
    kvIdx: (cat) => `{${prefix}:kv}:i:${cat}`,
  };
}
