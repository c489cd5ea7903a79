/**
 * DTM's topics (dtm-protocol.md §1.4.12, §4.7, §8): a topic is the KV record (cat `topics`,
 * key = topic name) whose value is the JSON text of its subscribers `[{"url","remark"}]`.
 * Subscribe and unsubscribe are version-checked updates that retry a few times when another
 * writer moved the version in between; errors are DTM's 500 texts.
 *
 * msg expansion reads the topic fresh from Redis (one HGET per topic step) instead of DTM's
 * in-memory copy refreshed every 3 s: a just-subscribed URL is used at once, and a deleted topic
 * is gone at once, on every coordinator process.
 */
import { InternalError } from '../errors.js';
import type { KvStore } from '../store/kv.js';

/** The KV cat holding topics. */
export const TOPICS_CAT = 'topics';
/** A msg step action starting with this names a topic (DTM's MsgTopicPrefix). */
export const TOPIC_PREFIX = 'topic://';

export interface Subscriber {
  url: string;
  remark: string;
}

export interface Topics {
  /** Adds `url` to `topic`, creating the topic (version 1) if needed. */
  subscribe(topic: string, url: string, remark: string): Promise<void>;
  /** Removes `url` from `topic`; the topic stays, possibly with no subscriber. */
  unsubscribe(topic: string, url: string): Promise<void>;
  /** Deletes the topic. */
  deleteTopic(name: string): Promise<void>;
  /** The subscriber URLs of a topic, in subscription order; [] for an unknown topic. */
  resolve(name: string): Promise<string[]>;
}

/** How many times a version race is retried before answering DTM's storage error. */
const ATTEMPTS = 5;

const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/** The subscribers as DTM writes them (Go's json.Marshal, which also escapes `<`, `>`, `&`). */
export function encodeSubscribers(subs: readonly Subscriber[]): string {
  return JSON.stringify(subs.map((s) => ({ url: s.url, remark: s.remark }))).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
}

/** Parses a topic's stored value; JSON `null` is no subscriber, as in Go. */
export function decodeSubscribers(topic: string, v: string): Subscriber[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (err) {
    throw new InternalError(`topic ${topic}: the stored subscribers are not JSON: ${(err as Error).message}`);
  }
  if (parsed === null) return [];
  if (!Array.isArray(parsed)) throw new InternalError(`topic ${topic}: the stored subscribers are not a JSON array`);
  return parsed.map((x: unknown) => {
    if (x === null || typeof x !== 'object') throw new InternalError(`topic ${topic}: a stored subscriber is not a JSON object`);
    const o = x as Record<string, unknown>;
    return { url: typeof o['url'] === 'string' ? o['url'] : '', remark: typeof o['remark'] === 'string' ? o['remark'] : '' };
  });
}

/** Topics over the KV store. */
export function createTopics(kv: KvStore): Topics {
  return {
    async subscribe(topic, url, remark) {
      if (topic === '') throw new InternalError('empty topic');
      if (url === '') throw new InternalError('empty url');
      let lost = 'storage: NotFound';
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const rec = await kv.get(TOPICS_CAT, topic);
        if (rec === undefined) {
          const value = encodeSubscribers([{ url, remark }]);
          const r = await kv.create(TOPICS_CAT, topic, value);
          // DUP with exactly our value at version 1 is our own create resent after a timeout.
          if (r.tag === 'OK' || (r.version === 1 && r.v === value)) return;
          lost = 'storage: UniqueKeyConflict';
          continue;
        }
        const subs = decodeSubscribers(topic, rec.v);
        if (subs.some((s) => s.url === url)) throw new InternalError('this url exists');
        const value = encodeSubscribers([...subs, { url, remark }]);
        const r = await kv.update(TOPICS_CAT, topic, rec.version, value);
        if (r.tag === 'OK' || (r.tag === 'STALE' && r.version === rec.version + 1 && r.v === value)) return;
        lost = 'storage: NotFound';
      }
      throw new InternalError(lost);
    },

    async unsubscribe(topic, url) {
      if (topic === '') throw new InternalError('empty topic');
      if (url === '') throw new InternalError('empty url');
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const rec = await kv.get(TOPICS_CAT, topic);
        if (rec === undefined) throw new InternalError('no such a topic');
        const subs = decodeSubscribers(topic, rec.v);
        if (subs.length === 0) throw new InternalError('this topic is empty');
        const at = subs.findIndex((s) => s.url === url);
        // DTM's text, trailing space included.
        if (at === -1) throw new InternalError('no such an url ');
        const value = encodeSubscribers(subs.filter((_, i) => i !== at));
        const r = await kv.update(TOPICS_CAT, topic, rec.version, value);
        if (r.tag === 'OK' || (r.tag === 'STALE' && r.version === rec.version + 1 && r.v === value)) return;
      }
      throw new InternalError('storage: NotFound');
    },

    async deleteTopic(name) {
      if ((await kv.delete(TOPICS_CAT, name)) === 'NOT_FOUND') throw new InternalError('storage: NotFound');
    },

    async resolve(name) {
      const v = await kv.getValue(TOPICS_CAT, name);
      return v === undefined ? [] : decodeSubscribers(name, v).map((s) => s.url);
    },
  };
}
