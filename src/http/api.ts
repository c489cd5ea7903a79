/**
 * DTM's endpoints as plain async functions: request in, reply out. No uWS here; `route.ts` does
 * the HTTP plumbing and turns thrown DtmErrors into DTM's status codes and bodies.
 */
import { baseInterval } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { BadRequestError, FailureError, InternalError } from '../errors.js';
import { newGid, sanitizeGid } from '../gid.js';
import type { NewBranch, Store } from '../store/store.js';
import type { Engine } from '../trans/process.js';
import { generateBranches, parseTransBody, topicNames, type TransBody } from '../trans/request.js';
import { leaseMs } from '../trans/round.js';
import type { Topics } from '../trans/topics.js';
import { branchView, transView } from '../trans/view.js';
import { BRANCH_STATUS_OF_CODE, type Trans, type TransStatus } from '../types.js';

export interface ApiRequest {
  /** The parsed JSON body of a POST, else undefined. */
  body: unknown;
  query: URLSearchParams;
  /** Route parameters, e.g. the topic name of DELETE /topic/:name. */
  params: readonly string[];
}

export interface Reply {
  status: number;
  body: unknown;
}

export type Handler = (req: ApiRequest) => Promise<Reply> | Reply;

export interface ApiDeps {
  store: Store;
  engine: Engine;
  config: Config;
  clock: Clock;
  version: string;
  /** Resolves msg `topic://` steps to subscriber URLs; without it every topic is unknown. */
  topics?: Pick<Topics, 'resolve'>;
}

const PREPARED = BRANCH_STATUS_OF_CODE['p']!;

const ok = (body: unknown = { dtm_result: 'SUCCESS' }): Reply => ({ status: 200, body });

const notFoundGid = (gid: string): InternalError => new InternalError(`no TransGlobal with gid: ${gid} found`);

/** The in-memory transaction of a request that was just created, identical to what was stored. */
function freshTrans(body: TransBody, status: TransStatus, now: number, nextCron: number, interval: number, branches: readonly NewBranch[]): Trans {
  return {
    gid: body.gid,
    trans_type: body.trans_type,
    status,
    create_time: now,
    update_time: now,
    finish_time: undefined,
    rollback_time: undefined,
    next_cron_time: nextCron,
    scheduled_time: nextCron,
    next_cron_interval: interval,
    rollback_reason: '',
    retry_count: body.retry_count,
    result: '',
    req: body.req,
    // Explicit fields, not a spread: this runs per submit and a spread copy is several times slower.
    branches: branches.map((b) => ({ branch_id: b.branch_id, op: b.op, url: b.url, data: b.data, status: PREPARED, finish_time: undefined })),
  };
}

/** Builds every DTM endpoint over the store and engine; keys are `METHOD /path`. */
export function createApi(deps: ApiDeps): Record<string, Handler> {
  const { store, engine, config, clock } = deps;

  /** First cron time: a submitted transaction is being driven, so others wait a lease; a prepared one waits for its deadline. */
  function firstCron(body: TransBody, status: TransStatus, now: number): { at: number; interval: number } {
    const interval = baseInterval(body.req.options, config);
    if (status === 'submitted') return { at: now + leaseMs(config), interval };
    if (body.trans_type === 'msg' || body.trans_type === 'tcc' || body.trans_type === 'xa') {
      const timeoutS = body.req.options.timeout_to_fail > 0 ? body.req.options.timeout_to_fail : config.timeoutToFailMs / 1000;
      return { at: now + Math.min(timeoutS, interval) * 1000, interval };
    }
    return { at: now + interval * 1000, interval };
  }

  /** Subscribers of the body's `topic://` steps, read fresh from the KV (DTM's cache lags up to 3 s). */
  async function resolveTopics(body: TransBody): Promise<Map<string, readonly string[]> | undefined> {
    const names = topicNames(body);
    const resolver = deps.topics;
    if (names.length === 0 || resolver === undefined) return undefined;
    return new Map(await Promise.all(names.map(async (n) => [n, await resolver.resolve(n)] as const)));
  }

  async function create(body: TransBody, status: 'prepared' | 'submitted', mode: 'prepare' | 'submit') {
    const branches = generateBranches(body, await resolveTopics(body));
    const now = clock.now();
    const cron = firstCron(body, status, now);
    const outcome = await store.createTrans(
      { gid: body.gid, trans_type: body.trans_type, status, req: body.req, branches, next_cron_interval: cron.interval, next_cron_time: cron.at },
      mode,
    );
    return { outcome, now, cron, branches };
  }

  /** Runs a round in-line and answers as DTM does for `wait_result` (§4.3). */
  async function processAndWait(trans: Trans, isSubmit: boolean): Promise<Reply> {
    const res = await engine.process(trans);
    if (res.error !== undefined) throw res.error;
    if (isSubmit && trans.status !== 'succeed') {
      const reason = trans.rollback_reason;
      if (reason !== '') throw new FailureError(reason.endsWith('FAILURE') ? reason : `${reason} FAILURE`);
      throw new FailureError('wait result not return success: FAILURE');
    }
    return ok();
  }

  function startInBackground(trans: Trans): void {
    // The engine never rejects; a crash here would leave the schedule to finish the job anyway.
    void engine.process(trans);
  }

  async function loadOrFail(gid: string): Promise<Trans> {
    const t = await store.getTrans(gid);
    if (t === undefined) throw notFoundGid(gid);
    return t;
  }

  return {
    'ANY /api/ping': () => ok({ msg: 'pong' }),

    'GET /api/dtmsvr/newGid': () => ok({ gid: newGid(), dtm_result: 'SUCCESS' }),

    'GET /api/dtmsvr/version': () => ok({ version: deps.version }),

    'POST /api/dtmsvr/prepare': async (req) => {
      const body = parseTransBody(req.body);
      const { outcome } = await create(body, 'prepared', 'prepare');
      if (outcome.tag === 'OK') return ok();
      if (outcome.trans.status === 'prepared') return ok();
      throw new FailureError(`current status '${outcome.trans.status}', cannot prepare. FAILURE`);
    },

    'POST /api/dtmsvr/submit': async (req) => {
      if (isWorkflowBody(req.body)) return submitWorkflow(store, req.body);
      const body = parseTransBody(req.body);
      const { outcome, now, cron, branches } = await create(body, 'submitted', 'submit');
      let trans: Trans;
      if (outcome.tag === 'OK') {
        trans = freshTrans(body, 'submitted', now, cron.at, cron.interval, branches);
      } else {
        trans = outcome.trans;
        if (outcome.tag === 'PROMOTED') trans.status = 'submitted';
        else if (trans.status !== 'submitted') throw new FailureError(`current status '${trans.status}', cannot sumbmit. FAILURE`);
        // As in DTM, this submit's own custom_data (e.g. a msg delay) governs the processing it starts.
        if (body.req.custom_data !== '') trans.req = { ...trans.req, custom_data: body.req.custom_data };
      }
      if (body.req.options.wait_result) return processAndWait(trans, true);
      startInBackground(trans);
      return ok();
    },

    'POST /api/dtmsvr/abort': async (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      if (body === null || typeof body !== 'object') throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object');
      const gid = sanitizeGid(body['gid']);
      // The flash-sale path (a sold-out buyer aborts its prepared msg; DTM's SDKs send the msg's
      // trans_type) in one round trip, without loading the record; anything else, or a guard
      // that does not hold, takes the general path below.
      if (body['trans_type'] === 'msg') {
        const quick = await store.changeStatus(gid, 'prepared', 'failed', { expectedType: 'msg' });
        if (quick.tag === 'OK') return ok();
      }
      const trans = await loadOrFail(gid);
      if (trans.trans_type === 'msg' && trans.status === 'prepared') {
        const r = await store.changeStatus(gid, 'prepared', 'failed', {});
        if (r.tag === 'OK' || (r.tag === 'STALE' && r.current === 'failed')) return ok();
        throw new FailureError(`trans type: '${trans.trans_type}' current status '${r.tag === 'STALE' ? r.current : 'missing'}', cannot abort. FAILURE`);
      }
      // As in DTM, the request's trans_type must be tcc or xa, whatever is stored.
      const requested = body['trans_type'];
      if ((requested !== 'tcc' && requested !== 'xa') || (trans.status !== 'prepared' && trans.status !== 'aborting')) {
        throw new FailureError(`trans type: '${trans.trans_type}' current status '${trans.status}', cannot abort. FAILURE`);
      }
      const reason = typeof body['rollback_reason'] === 'string' ? body['rollback_reason'] : '';
      if (trans.status === 'prepared') {
        const input: Parameters<Store['changeStatus']>[3] = { nextCronTime: clock.now() + leaseMs(config) };
        if (reason !== '') input.rollbackReason = reason;
        const r = await store.changeStatus(gid, 'prepared', 'aborting', input);
        if (r.tag === 'NOT_FOUND') throw notFoundGid(gid);
        if (r.tag === 'STALE' && r.current !== 'aborting') {
          throw new FailureError(`trans type: '${trans.trans_type}' current status '${r.current}', cannot abort. FAILURE`);
        }
        trans.status = 'aborting';
        if (reason !== '') trans.rollback_reason = reason;
      }
      // The options stored at prepare decide whether the caller waits (DTM uses the stored copy).
      if (trans.req.options.wait_result) return processAndWait(trans, false);
      startInBackground(trans);
      return ok();
    },

    'POST /api/dtmsvr/forceStop': async (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      if (body === null || typeof body !== 'object') throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object');
      const gid = sanitizeGid(body['gid']);
      let status = (await loadOrFail(gid)).status;
      // The status may move under us (a round in flight): retry the compare-and-set a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        if (status === 'succeed' || status === 'failed') {
          throw new FailureError(`global transaction force stop error. status: ${status}. error: FAILURE`);
        }
        const r = await store.changeStatus(gid, status, 'failed', {});
        if (r.tag === 'OK') return ok();
        if (r.tag === 'NOT_FOUND') throw notFoundGid(gid);
        status = r.current;
      }
      throw new InternalError(`force stop of ${gid} kept racing with its processing; try again`);
    },

    'GET /api/dtmsvr/query': async (req) => {
      const gid = req.query.get('gid') ?? '';
      if (gid === '') throw new InternalError('no gid specified');
      const t = await store.getTrans(gid);
      if (t === undefined) return ok({ transaction: null, branches: [] });
      return ok({ transaction: transView(t), branches: t.branches.map((b) => branchView(t, b)) });
    },

    'GET /api/dtmsvr/all': async (req) => {
      const q = req.query;
      const position = q.get('position') ?? '';
      const gid = q.get('gid') ?? '';
      if (gid !== '') {
        const t = await store.getTrans(gid);
        return ok({ transactions: t === undefined ? null : [transView(t)], next_position: position });
      }
      const limit = intParam(q, 'limit', 100, 1, 1000);
      const start = intParam(q, 'createTimeStart', -1, 0, Number.MAX_SAFE_INTEGER);
      const end = intParam(q, 'createTimeEnd', -1, 0, Number.MAX_SAFE_INTEGER);
      const status = q.get('status') ?? '';
      const transType = q.get('transType') ?? '';
      const res = await store.listTrans({
        position,
        limit,
        ...(status !== '' ? { status } : {}),
        ...(transType !== '' ? { transType } : {}),
        ...(start >= 0 ? { createTimeStart: start } : {}),
        ...(end >= 0 ? { createTimeEnd: end } : {}),
      });
      return ok({ transactions: res.transactions.map(transView), next_position: res.nextPosition });
    },

    'GET /api/dtmsvr/resetCronTime': async (req) => {
      const timeoutS = intParam(req.query, 'timeout', (3 * config.timeoutToFailMs) / 1000, 0, Number.MAX_SAFE_INTEGER);
      const limit = intParam(req.query, 'limit', 100, 0, 10000);
      const from = clock.now() + timeoutS * 1000;
      let count = 0;
      let hasRemaining = false;
      for (let b = 0; b < store.keys.buckets && !hasRemaining; b++) {
        const r = await store.resetCron(b, from, limit - count);
        count += r.count;
        hasRemaining = r.hasRemaining;
      }
      return ok({ has_remaining: hasRemaining, succeed_count: count });
    },

    'POST /api/dtmsvr/resetNextCronTime': async (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      if (body === null || typeof body !== 'object') throw new BadRequestError('[DTM_BAD_BODY] the body must be a JSON object');
      const gid = sanitizeGid(body['gid']);
      if ((await store.resetNextCron(gid)) === 'NOT_FOUND') throw notFoundGid(gid);
      return ok();
    },
  };
}

function isWorkflowBody(body: unknown): body is Record<string, unknown> {
  return body !== null && typeof body === 'object' && (body as Record<string, unknown>)['trans_type'] === 'workflow';
}

/**
 * A workflow's submit records its outcome (`req_extra.status`, `rollback_reason`, `result`) on
 * the prepared record; it starts no processing. DTM answers 500 `storage: NotFound` when the
 * workflow is not prepared.
 */
async function submitWorkflow(store: Store, body: Record<string, unknown>): Promise<Reply> {
  const gid = sanitizeGid(body['gid']);
  const extra = (body['req_extra'] ?? {}) as Record<string, unknown>;
  if (typeof extra !== 'object' || Array.isArray(extra)) throw new BadRequestError('[DTM_BAD_FIELD] req_extra must be an object of strings');
  const status = extra['status'];
  if (status !== 'succeed' && status !== 'failed') {
    throw new BadRequestError(`[DTM_BAD_FIELD] req_extra.status must be "succeed" or "failed", got ${JSON.stringify(status)}`);
  }
  const text = (k: string): string => (typeof extra[k] === 'string' ? extra[k] : '');
  const r = await store.changeStatus(gid, 'prepared', status, { rollbackReason: text('rollback_reason'), result: text('result') });
  if (r.tag === 'OK' || (r.tag === 'STALE' && r.current === status)) return ok();
  throw new InternalError('storage: NotFound');
}

/** Reads an integer query parameter; an absent or empty one is `dflt`. */
function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new BadRequestError(`[DTM_BAD_PARAM] ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}
