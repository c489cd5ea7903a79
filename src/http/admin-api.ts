/**
 * DTM's admin endpoints (dtm-protocol.md §1.4.5, §1.4.8–1.4.11): read a transaction or page
 * through them, force-stop one, make them due now.
 */
import { InternalError } from '../errors.js';
import { parseGidBody } from '../trans/request.js';
import type { DtmService } from '../trans/service.js';
import { ok, type Handler } from './handler.js';
import { intParam } from './params.js';
import { branchView, transView } from './views.js';

export function createAdminApi(service: DtmService): Record<string, Handler> {
  return {
    'POST /api/dtmsvr/forceStop': async (req) => {
      await service.forceStop(parseGidBody(req.body));
      return ok();
    },

    'GET /api/dtmsvr/query': async (req) => {
      const gid = req.query.get('gid') ?? '';
      if (gid === '') throw new InternalError('no gid specified');
      const t = await service.query(gid);
      if (t === undefined) return ok({ transaction: null, branches: [] });
      return ok({ transaction: transView(t), branches: t.branches.map((b) => branchView(t, b)) });
    },

    'GET /api/dtmsvr/all': async (req) => {
      const q = req.query;
      const position = q.get('position') ?? '';
      const gid = q.get('gid') ?? '';
      if (gid !== '') {
        const t = await service.query(gid);
        return ok({ transactions: t === undefined ? null : [transView(t)], next_position: position });
      }
      const start = intParam(q, 'createTimeStart', -1, 0, Number.MAX_SAFE_INTEGER);
      const end = intParam(q, 'createTimeEnd', -1, 0, Number.MAX_SAFE_INTEGER);
      const status = q.get('status') ?? '';
      const transType = q.get('transType') ?? '';
      const res = await service.list({
        position,
        limit: intParam(q, 'limit', 100, 1, 1000),
        ...(status !== '' ? { status } : {}),
        ...(transType !== '' ? { transType } : {}),
        ...(start >= 0 ? { createTimeStart: start } : {}),
        ...(end >= 0 ? { createTimeEnd: end } : {}),
      });
      return ok({ transactions: res.transactions.map(transView), next_position: res.nextPosition });
    },

    'GET /api/dtmsvr/resetCronTime': async (req) => {
      const timeoutS = intParam(req.query, 'timeout', -1, 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(req.query, 'limit', 100, 0, 10000);
      const r = await service.resetCronTime({ limit, ...(timeoutS >= 0 ? { timeoutS } : {}) });
      return ok({ has_remaining: r.hasRemaining, succeed_count: r.count });
    },

    'POST /api/dtmsvr/resetNextCronTime': async (req) => {
      await service.resetNextCronTime(parseGidBody(req.body));
      return ok();
    },
  };
}
