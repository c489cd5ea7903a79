/**
 * The console's API under `/api/admin/`: log in and out, list and read transactions, act on one
 * or in bulk, the live counters, and topics. Each handler checks the admin token (auth.ts),
 * parses, calls the service (or the bulk runner over it), and answers JSON that is never cached.
 * Every action writes one audit line: who (the identity and the address it came from), what,
 * and how many.
 */
import { BadRequestError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ListQuery } from '../store/list-trans.js';
import { MAX_BULK_BATCH, runBulkBatch } from '../trans/bulk.js';
import type { DtmService } from '../trans/service.js';
import { isFinal, type Trans } from '../types.js';
import { requestSource, type Auth, type Identity } from './auth.js';
import {
  BULK_ACTIONS,
  type BulkAction,
  type BulkReply,
  type ListFilter,
  type SessionInfo,
  type TopicsReply,
  type TransDetail,
  type TransPage,
  type TransSummary,
} from './console-wire.js';
import type { ApiRequest, Handler, Reply } from './handler.js';
import type { LiveStatsReader } from './live-stats.js';
import { intParam } from './params.js';
import type { ResponseHeaders } from './respond.js';
import { branchView, transView } from './views.js';

export interface ConsoleApiDeps {
  service: DtmService;
  auth: Auth;
  stats: LiveStatsReader;
  /** The audit log (and failed logins). */
  log: Logger;
  version: string;
  now: () => number;
}

const NO_STORE: ResponseHeaders = Object.freeze({ 'cache-control': 'no-store' });
const json = (body: unknown, status = 200, headers: ResponseHeaders = NO_STORE): Reply => ({ status, body, headers });

/** Subscriber lists the topics page reads at most. */
const MAX_TOPICS = 1000;

/** A transaction as one row of the list. */
function summaryOf(t: Trans): TransSummary {
  let succeed = 0;
  let failed = 0;
  let lastError = '';
  let lastErrorAt = -Infinity;
  for (const b of t.branches) {
    if (b.status === 'succeed') succeed++;
    else if (b.status === 'failed') failed++;
    if (b.last_error !== '' && (b.last_attempt_time ?? 0) >= lastErrorAt) {
      lastError = b.last_error;
      lastErrorAt = b.last_attempt_time ?? 0;
    }
  }
  return {
    gid: t.gid,
    trans_type: t.trans_type,
    status: t.status,
    create_time: t.create_time,
    update_time: t.update_time,
    finish_time: t.finish_time ?? null,
    next_cron_time: isFinal(t.status) ? null : (t.next_cron_time ?? null),
    branches: t.branches.length,
    branches_succeed: succeed,
    branches_failed: failed,
    retries: t.retries,
    rollback_reason: t.rollback_reason,
    last_error: lastError,
  };
}

/** An optional string field of a JSON body. */
function str(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new BadRequestError(`[DTM_BAD_FIELD] ${name} must be a string`);
  return v;
}

/** An optional time bound (ms) of a JSON body. */
function ms(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadRequestError(`[DTM_BAD_FIELD] ${name} must be a time in ms`);
  return v;
}

function objectBody(req: ApiRequest): Record<string, unknown> {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new BadRequestError('[DTM_BAD_JSON] the body must be a JSON object');
  return b as Record<string, unknown>;
}

/** The listing filters of a JSON object (the bulk body) or a query string (the list). */
function listFilter(src: Record<string, unknown>): Omit<ListQuery, 'position' | 'limit'> {
  const f: Omit<ListQuery, 'position' | 'limit'> = {};
  const status = str(src, 'status');
  const transType = str(src, 'trans_type');
  const gidPrefix = str(src, 'gid_prefix');
  const start = ms(src, 'create_time_start');
  const end = ms(src, 'create_time_end');
  if (status !== undefined) f.status = status;
  if (transType !== undefined) f.transType = transType;
  if (gidPrefix !== undefined) f.gidPrefix = gidPrefix;
  if (start !== undefined) f.createTimeStart = start;
  if (end !== undefined) f.createTimeEnd = end;
  return f;
}

function queryFilter(q: URLSearchParams): Omit<ListQuery, 'position' | 'limit'> {
  const src: Record<string, unknown> = {};
  for (const k of ['status', 'trans_type', 'gid_prefix']) src[k] = q.get(k) ?? undefined;
  for (const k of ['create_time_start', 'create_time_end']) {
    const v = intParam(q, k, -1, 0, Number.MAX_SAFE_INTEGER);
    if (v >= 0) src[k] = v;
  }
  return listFilter(src);
}

/** The filter as the audit line writes it (the wire's names, only those set). */
function filterText(f: Omit<ListQuery, 'position' | 'limit'>): ListFilter {
  const out: ListFilter = {};
  if (f.status !== undefined) out.status = f.status;
  if (f.transType !== undefined) out.trans_type = f.transType;
  if (f.gidPrefix !== undefined) out.gid_prefix = f.gidPrefix;
  if (f.createTimeStart !== undefined) out.create_time_start = f.createTimeStart;
  if (f.createTimeEnd !== undefined) out.create_time_end = f.createTimeEnd;
  return out;
}

export function createConsoleApi(deps: ConsoleApiDeps): Record<string, Handler> {
  const { service, auth, stats, log, version } = deps;

  const audit = (who: Identity, action: string, fields: Record<string, unknown>): void => {
    log.info({ audit: true, who: who.who, from: who.from, action, ...fields }, 'admin action');
  };

  /** `handler` for administrators only; it gets the caller's identity for its audit line. */
  const admin =
    (handler: (req: ApiRequest, who: Identity) => Promise<Reply> | Reply): Handler =>
    (req) =>
      handler(req, auth.check(req.meta, 'admin'));

  const session = (who: Identity): SessionInfo => ({ authenticated: true, auth_required: auth.adminRequired, who: who.who, version });

  return {
    'GET /api/admin/session': admin((_req, who) => json(session(who))),

    'POST /api/admin/login': (req) => {
      if (!auth.adminRequired) return json(session(auth.check(req.meta, 'admin')));
      const token = str(objectBody(req), 'token') ?? '';
      const granted = auth.login(token, req.meta);
      if (granted === undefined) {
        log.warn({ audit: true, from: requestSource(req.meta), action: 'login' }, 'console login refused: wrong token');
        return json({ message: '[DTM_UNAUTHORIZED] wrong token' }, 401);
      }
      audit(granted.identity, 'login', {});
      return json(session(granted.identity), 200, { ...NO_STORE, 'set-cookie': granted.cookie });
    },

    'POST /api/admin/logout': (req) => json({ authenticated: false }, 200, { ...NO_STORE, 'set-cookie': auth.logoutCookie(req.meta) }),

    'GET /api/admin/transactions': admin(async (req) => {
      const q = req.query;
      const filter = queryFilter(q);
      const position = q.get('position') ?? '';
      const page = await service.list({ ...filter, position, limit: intParam(q, 'limit', 50, 1, 500) });
      const reply: TransPage = { transactions: page.transactions.map(summaryOf), next_position: page.nextPosition };
      // A gid typed whole is found at once, wherever the walk would reach it.
      if (position === '' && filter.gidPrefix !== undefined) {
        const exact = await service.query(filter.gidPrefix);
        if (exact !== undefined) reply.exact = summaryOf(exact);
      }
      return json(reply);
    }),

    'GET /api/admin/transactions/:gid': admin(async (req) => {
      const gid = req.params[0] ?? '';
      const t = await service.query(gid);
      if (t === undefined)
        throw new NotFoundError(`[DTM_NOT_FOUND] no transaction ${JSON.stringify(gid)} (finished ones expire after STORE_FINISHED_DATA_EXPIRE)`);
      const detail: TransDetail = {
        transaction: transView(t) as unknown as TransDetail['transaction'],
        branches: t.branches.map((b) => branchView(t, b) as unknown as TransDetail['branches'][number]),
        now: deps.now(),
      };
      return json(detail);
    }),

    'POST /api/admin/transactions/:gid/force-stop': admin(async (req, who) => {
      const gid = req.params[0] ?? '';
      await service.forceStop(gid);
      audit(who, 'force-stop', { gid, count: 1 });
      return json({ dtm_result: 'SUCCESS' });
    }),

    'POST /api/admin/transactions/:gid/retry': admin(async (req, who) => {
      const gid = req.params[0] ?? '';
      await service.resetNextCronTime(gid);
      audit(who, 'retry', { gid, count: 1 });
      return json({ dtm_result: 'SUCCESS' });
    }),

    'POST /api/admin/bulk': admin(async (req, who) => {
      const body = objectBody(req);
      const action = body['action'];
      if (typeof action !== 'string' || !BULK_ACTIONS.includes(action as BulkAction)) {
        throw new BadRequestError(`[DTM_BAD_FIELD] action must be one of ${BULK_ACTIONS.join(', ')}`);
      }
      const rawFilter = body['filter'] ?? {};
      if (rawFilter === null || typeof rawFilter !== 'object' || Array.isArray(rawFilter))
        throw new BadRequestError('[DTM_BAD_FIELD] filter must be an object');
      const filter = listFilter(rawFilter as Record<string, unknown>);
      if (action === 'force-stop' && (filter.status === 'succeed' || filter.status === 'failed')) {
        throw new BadRequestError(`[DTM_BAD_FIELD] a ${filter.status} transaction cannot be force-stopped`);
      }
      const position = str(body, 'position') ?? '';
      const rawLimit = body['limit'] ?? 100;
      if (typeof rawLimit !== 'number' || !Number.isInteger(rawLimit) || rawLimit < 1 || rawLimit > MAX_BULK_BATCH) {
        throw new BadRequestError(`[DTM_BAD_FIELD] limit must be an integer from 1 to ${MAX_BULK_BATCH}`);
      }
      const run = body['run'] as { id?: unknown; done_before?: unknown } | undefined;
      const runId = typeof run?.id === 'string' ? run.id.slice(0, 64) : undefined;
      const doneBefore = typeof run?.done_before === 'number' && Number.isSafeInteger(run.done_before) ? run.done_before : 0;

      const r = await runBulkBatch(service, action as BulkAction, filter, position, rawLimit);
      const finished = r.nextPosition === '';
      const what = { filter: filterText(filter), run: runId, position };
      audit(who, `bulk ${action} batch`, { ...what, count: r.done, skipped: r.skipped, failed: r.failed, next_position: r.nextPosition });
      // The run's total is the console's running count plus this batch (each batch line above is the record).
      if (finished) audit(who, `bulk ${action} finished`, { filter: what.filter, run: runId, count: doneBefore + r.done });
      const reply: BulkReply = { done: r.done, skipped: r.skipped, failed: r.failed, errors: r.errors, next_position: r.nextPosition, finished };
      return json(reply);
    }),

    'GET /api/admin/stats': admin(async () => json(await stats.read())),

    'GET /api/admin/topics': admin(async () => {
      const records = await service.queryKV('topics', '', MAX_TOPICS);
      const reply: TopicsReply = {
        topics: records.map((r) => {
          let subscribers: { url: string; remark: string }[] = [];
          try {
            const parsed = JSON.parse(r.v) as { url?: unknown; remark?: unknown }[];
            const text = (v: unknown): string => (typeof v === 'string' ? v : '');
            if (Array.isArray(parsed)) subscribers = parsed.map((s) => ({ url: text(s.url), remark: text(s.remark) }));
          } catch {
            // A value that is not DTM's JSON shows as no subscribers.
          }
          return { name: r.k, subscribers, version: r.version, update_time: r.update_time };
        }),
      };
      return json(reply);
    }),

    'POST /api/admin/topics/subscribe': admin(async (req, who) => {
      const body = objectBody(req);
      const topic = str(body, 'topic') ?? '';
      const url = str(body, 'url') ?? '';
      await service.subscribe(topic, url, str(body, 'remark') ?? '');
      audit(who, 'subscribe', { topic, url, count: 1 });
      return json({ dtm_result: 'SUCCESS' });
    }),

    'POST /api/admin/topics/unsubscribe': admin(async (req, who) => {
      const body = objectBody(req);
      const topic = str(body, 'topic') ?? '';
      const url = str(body, 'url') ?? '';
      await service.unsubscribe(topic, url);
      audit(who, 'unsubscribe', { topic, url, count: 1 });
      return json({ dtm_result: 'SUCCESS' });
    }),
  };
}
