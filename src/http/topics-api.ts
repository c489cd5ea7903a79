/**
 * DTM's topic and KV endpoints (dtm-protocol.md §1.4.12, §1.4.13) as parse-and-call handlers.
 * Errors DTM defines keep its 500 texts (thrown by `trans/topics.ts`).
 */
import type { KvRecord } from '../store/kv.js';
import type { DtmService } from '../trans/service.js';
import { ok, type Handler } from './handler.js';
import { intParam } from './params.js';
import { formatTime } from './views.js';

/** Most records `queryKV` without a key returns (DTM returns one SCAN batch, ~10). */
const QUERY_KV_MAX = 1000;

/** A KV record as DTM's `KVStore` JSON (`id` is always 0 on Redis). */
function kvView(r: KvRecord): Record<string, unknown> {
  return { id: 0, create_time: formatTime(r.create_time), update_time: formatTime(r.update_time), cat: r.cat, k: r.k, v: r.v, version: r.version };
}

/** The topic and KV endpoints; keys are `METHOD /path`, to spread into the app's routes. */
export function createTopicsApi(service: DtmService): Record<string, Handler> {
  return {
    'GET /api/dtmsvr/subscribe': async (req) => {
      await service.subscribe(req.query.get('topic') ?? '', req.query.get('url') ?? '', req.query.get('remark') ?? '');
      return ok();
    },

    'GET /api/dtmsvr/unsubscribe': async (req) => {
      await service.unsubscribe(req.query.get('topic') ?? '', req.query.get('url') ?? '');
      return ok();
    },

    'DELETE /api/dtmsvr/topic/:topicName': async (req) => {
      await service.deleteTopic(req.params[0] ?? '');
      return ok();
    },

    'GET /api/dtmsvr/queryKV': async (req) => {
      const key = req.query.get('key') ?? '';
      const records = await service.queryKV(req.query.get('cat') ?? '', key, QUERY_KV_MAX);
      // DTM answers one key with a list, and an empty cat with null.
      return ok({ kv: key === '' && records.length === 0 ? null : records.map(kvView) });
    },

    'GET /api/dtmsvr/scanKV': async (req) => {
      const page = await service.scanKV(req.query.get('cat') ?? '', req.query.get('position') ?? '', intParam(req.query, 'limit', 100, 1, 1000));
      return ok({ kv: page.records.map(kvView), next_position: page.nextPosition });
    },
  };
}
