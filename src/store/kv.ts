/**
 * The KV store behind DTM's topics (dtm-protocol.md §0.4, §6.3): one HASH per (cat, key) and a
 * per-cat index ZSET, all under the `{<prefix>:kv}` hash tag (see keys.ts). Writes are the
 * version-checked scripts kvCreate, kvUpdate and kvDelete; listings page the cat's index in
 * lexical key order, so nothing ever SCANs the keyspace and it works the same on a cluster.
 */
import type { Clock } from '../clock.js';
import { StoreContractError } from '../errors.js';
import type { Keys } from './keys.js';
import type { RedisClient } from './redis.js';
import { kvCreate, kvDelete, kvUpdate, type KvCreateOutcome, type KvUpdateOutcome } from './kv-scripts.js';
import { KV_FIELD } from './schema.js';
import { createScriptRunner, type ScriptObserver } from './script-runner.js';
import { readFailure, type ReadFailureObserver } from './store-error.js';

/** A KV record as stored. Times are ms since the epoch. */
export interface KvRecord {
  cat: string;
  k: string;
  v: string;
  /** Starts at 1 and grows by 1 on each update. */
  version: number;
  create_time: number;
  update_time: number;
}

export interface KvStore {
  /** Creates (cat, key) at version 1 with `value`; DUP when it exists. The key must not be empty. */
  create(cat: string, key: string, value: string): Promise<KvCreateOutcome>;
  /** Replaces the value if the stored version is `expectedVersion`; the version becomes expected + 1. */
  update(cat: string, key: string, expectedVersion: number, value: string): Promise<KvUpdateOutcome>;
  /** Deletes the record and its index entry. */
  delete(cat: string, key: string): Promise<'OK' | 'NOT_FOUND'>;
  get(cat: string, key: string): Promise<KvRecord | undefined>;
  /** The value alone: one HGET, for the hot path (msg topic expansion). */
  getValue(cat: string, key: string): Promise<string | undefined>;
  /**
   * One page of a cat in key order. `position` is '' for the first page, else the
   * `nextPosition` of the previous page (the last key returned, exclusive); `nextPosition` is ''
   * when nothing follows.
   */
  scan(cat: string, position: string, limit: number): Promise<{ records: KvRecord[]; nextPosition: string }>;
  /** The first `max` records of a cat in key order. */
  list(cat: string, max: number): Promise<KvRecord[]>;
}

/** Decodes a record HASH (HGETALL as an object); undefined when the HASH is empty or gone. */
export function decodeKv(cat: string, key: string, h: Record<string, string>): KvRecord | undefined {
  if (Object.keys(h).length === 0) return undefined;
  const int = (field: string): number => {
    const raw = h[field];
    const n = Number(raw);
    if (raw === undefined || raw === '' || !Number.isSafeInteger(n)) throw new StoreContractError(`kv ${cat}/${key}: bad ${field} ${JSON.stringify(raw)}`);
    return n;
  };
  const v = h[KV_FIELD.value];
  if (v === undefined) throw new StoreContractError(`kv ${cat}/${key}: missing ${KV_FIELD.value}`);
  return { cat, k: key, v, version: int(KV_FIELD.version), create_time: int(KV_FIELD.createTime), update_time: int(KV_FIELD.updateTime) };
}

/** Builds the KV store over a client whose scripts are defined; the observers are for metrics. */
export function createKvStore(redis: RedisClient, keys: Keys, clock: Clock, observe?: ScriptObserver, readFailed?: ReadFailureObserver): KvStore {
  const run = createScriptRunner(redis, keys, observe);
  const failed = readFailure(readFailed);

  /** Records of `members` (one pipelined HGETALL each); members whose record vanished are skipped. */
  async function fetch(cat: string, members: readonly string[]): Promise<KvRecord[]> {
    if (members.length === 0) return [];
    let res: [Error | null, unknown][] | null;
    try {
      const p = redis.pipeline();
      for (const k of members) p.hgetall(keys.kv(cat, k));
      res = await p.exec();
    } catch (err) {
      throw failed(err, 'kvFetch');
    }
    /* c8 ignore next -- exec() answers null only for an aborted MULTI, and this is no MULTI */
    if (res === null) return [];
    const out: KvRecord[] = [];
    res.forEach(([err, h], i) => {
      if (err) throw failed(err, 'kvFetch');
      const r = decodeKv(cat, members[i]!, h as Record<string, string>);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  async function members(cat: string, after: string, count: number): Promise<string[]> {
    try {
      return await redis.zrangebylex(keys.kvIdx(cat), after === '' ? '-' : `(${after}`, '+', 'LIMIT', 0, count);
    } catch (err) {
      throw failed(err, 'kvScan');
    }
  }

  return {
    create: (cat, key, value) => run(kvCreate, { cat, key, value, now: clock.now() }),
    update: (cat, key, expectedVersion, value) => run(kvUpdate, { cat, key, expectedVersion, value, now: clock.now() }),
    delete: (cat, key) => run(kvDelete, { cat, key }),

    async get(cat, key) {
      let h: Record<string, string>;
      try {
        h = await redis.hgetall(keys.kv(cat, key));
      } catch (err) {
        throw failed(err, 'kvGet');
      }
      return decodeKv(cat, key, h);
    },

    async getValue(cat, key) {
      try {
        return (await redis.hget(keys.kv(cat, key), KV_FIELD.value)) ?? undefined;
      } catch (err) {
        throw failed(err, 'kvGet');
      }
    },

    async scan(cat, position, limit) {
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`kv scan limit must be a whole number >= 1, got ${limit}`);
      // One extra member tells whether another page follows, so the last page ends with ''.
      const found = await members(cat, position, limit + 1);
      const page = found.slice(0, limit);
      const records = await fetch(cat, page);
      return { records, nextPosition: found.length > limit ? page[page.length - 1]! : '' };
    },

    async list(cat, max) {
      return fetch(cat, await members(cat, '', max));
    },
  };
}
