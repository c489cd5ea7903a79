/**
 * DTM's topic and KV endpoints (dtm-protocol.md §1.4.12, §1.4.13) as plain handlers. Errors DTM
 * defines keep its 500 texts (thrown by `trans/topics.ts`); a subscriber URL that is not http(s)
 * is refused with a 400 here, since msg processing could never call it.
 */
import { BadRequestError } from '../errors.js';
import type { KvRecord, KvStore } from '../store/kv.js';
import { assertBranchUrl } from '../trans/request.js';
import type { Topics } from '../trans/topics.js';
import { formatTime } from '../trans/view.js';
import type { Handler, Reply } from './api.js';

export interface TopicsApiDeps {
  topics: Topics;
  kv: KvStore;
}

/** Most records `queryKV` without a key returns (DTM returns one SCAN batch, ~10). */
export const QUERY_KV_MAX = 1000;

const ok = (body: unknown = { dtm_result: 'SUCCESS' }): Reply => ({ status: 200, body });

/** A KV record as DTM's `KVStore` JSON (`id` is always 0 on Redis). */
export function kvView(r: KvRecord): Record<string, unknown> {
  return { id: 0, create_time: formatTime(r.create_time), update_time: formatTime(r.update_time), cat: r.cat, k: r.k, v: r.v, version: r.version };
}

/** Reads `limit`; absent or empty is the default. */
function limitParam(q: URLSearchParams, dflt: number, max: number): number {
  const raw = q.get('limit');
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new BadRequestError(`[DTM_BAD_PARAM] limit must be an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** The topic and KV endpoints; keys are `METHOD /path`, to spread into the app's routes. */
export function createTopicsApi(deps: TopicsApiDeps): Record<string, Handler> {
  const { topics, kv } = deps;
  return {
    'GET /api/dtmsvr/subscribe': async (req) => {
      const topic = req.query.get('topic') ?? '';
      const url = req.query.get('url') ?? '';
      // DTM's own checks (empty topic, empty url) come first and keep their 500s.
      if (topic !== '' && url !== '') assertBranchUrl(url, 'url');
      await topics.subscribe(topic, url, req.query.get('remark') ?? '');
      return ok();
    },

    'GET /api/dtmsvr/unsubscribe': async (req) => {
      await topics.unsubscribe(req.query.get('topic') ?? '', req.query.get('url') ?? '');
      return ok();
    },

    'DELETE /api/dtmsvr/topic/:topicName': async (req) => {
      await topics.deleteTopic(req.params[0] ?? '');
      return ok();
    },

    'GET /api/dtmsvr/queryKV': async (req) => {
      const cat = req.query.get('cat') ?? '';
      const key = req.query.get('key') ?? '';
      if (key !== '') {
        const r = await kv.get(cat, key);
        return ok({ kv: r === undefined ? [] : [kvView(r)] });
      }
      const all = await kv.list(cat, QUERY_KV_MAX);
      return ok({ kv: all.length === 0 ? null : all.map(kvView) });
    },

    'GET /api/dtmsvr/scanKV': async (req) => {
      const page = await kv.scan(req.query.get('cat') ?? '', req.query.get('position') ?? '', limitParam(req.query, 100, 1000));
      return ok({ kv: page.records.map(kvView), next_position: page.nextPosition });
    },
  };
}
