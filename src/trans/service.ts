/**
 * The transport-neutral service, as DTM's `dtmsvr/api.go` has `svcSubmit`, `svcPrepare`, …: what
 * every front end (HTTP, JSON-RPC, gRPC, the admin console) calls after parsing its input with
 * request.ts. Each function takes a typed input and resolves with a domain result, or rejects
 * with a DtmError that the front end maps to its wire (DESIGN.md §5).
 */
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { BadRequestError, FailureError, InternalError, type DtmError } from '../errors.js';
import { newGid } from '../gid.js';
import type { KvRecord, KvStore } from '../store/kv.js';
import type { ListPage, ListQuery } from '../store/list-trans.js';
import type { Backlog, Store } from '../store/store.js';
import type { NewBranch } from '../store/trans-scripts.js';
import { isTransType, type Trans, type TransStatus } from '../types.js';
import type { Engine, RoundResult } from './engine.js';
import { assertBranchUrl, branchHost } from './branch-target.js';
import type { AbortBody, RegisterBody, TransBody } from './request.js';
import { firstSchedule, leaseMs } from './schedule.js';
import { strategies } from './strategies.js';
import type { Topics } from './topics.js';
import type { UrlFence } from '../url-fence.js';

export interface ServiceDeps {
  store: Store;
  engine: Engine;
  config: Config;
  clock: Clock;
  topics: Topics;
  kv: KvStore;
  /** Which hosts branch calls may reach (BRANCH_URL_DENY/ALLOW). */
  fence: UrlFence;
}

export interface DtmService {
  /** A new gid in DTM's format. */
  newGid(): string;
  /** Stores a msg, TCC or XA transaction as prepared; a prepared one already there is fine. */
  prepare(body: TransBody): Promise<void>;
  /**
   * Submits a transaction (or promotes a prepared one) and drives it, in the background or, with
   * `wait_result`, until its first round ends; a workflow's submit records its outcome instead.
   */
  submit(body: TransBody): Promise<void>;
  /** Aborts a prepared msg (it fails) or a prepared or aborting TCC/XA (it rolls back). */
  abort(body: AbortBody): Promise<void>;
  /** Appends a TCC/XA branch or records a workflow step to a prepared transaction. */
  registerBranch(body: RegisterBody): Promise<void>;
  /** Creates a workflow as prepared, or finds it; resolves with the stored record and progress. */
  prepareWorkflow(body: TransBody): Promise<Trans>;
  /** Fails an unfinished transaction at once, without compensation. */
  forceStop(gid: string): Promise<void>;
  /** Makes one transaction due now. */
  resetNextCronTime(gid: string): Promise<void>;
  /** Makes due now, up to `limit`, the transactions scheduled later than `timeoutS` from now. */
  resetCronTime(opts: { timeoutS?: number; limit?: number }): Promise<{ count: number; hasRemaining: boolean }>;
  query(gid: string): Promise<Trans | undefined>;
  list(q: ListQuery): Promise<ListPage>;
  /** Unfinished transactions by status and the earliest next cron time, over every bucket (the console's counters). */
  backlog(): Promise<Backlog>;
  subscribe(topic: string, url: string, remark: string): Promise<void>;
  unsubscribe(topic: string, url: string): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  /** One KV record, or up to `max` of a cat in key order. */
  queryKV(cat: string, key: string, max: number): Promise<KvRecord[]>;
  scanKV(cat: string, position: string, limit: number): Promise<{ records: KvRecord[]; nextPosition: string }>;
}

/** The subscribers of a transaction without `topic://` steps. */
const NO_SUBSCRIBERS: ReadonlyMap<string, readonly string[]> = new Map();

/** DTM's 500 for an unknown gid. */
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
    retries: 0,
    result: '',
    req: body.req,
    // Explicit fields, not a spread: this runs per submit and a spread copy is several times slower.
    branches: branches.map((b) => ({
      branch_id: b.branch_id,
      op: b.op,
      url: b.url,
      data: b.data,
      status: 'prepared',
      finish_time: undefined,
      attempts: 0,
      last_attempt_time: undefined,
      last_error: '',
    })),
  };
}

/**
 * The answer a `wait_result` caller gets once the round it waited for ended (dtm-protocol.md
 * §4.9): the round's error if it has one; for a submit, FAILURE unless the transaction succeeded.
 * A round that did not run because this process already drives the gid is a 409 saying so.
 */
function waitResultAnswer(result: RoundResult, mode: 'submit' | 'abort'): DtmError | undefined {
  const { trans } = result;
  if (result.skipped) return new FailureError(`[DTM_BUSY] transaction ${trans.gid} is being processed already; query it for the outcome FAILURE`);
  if (result.error !== undefined) return result.error;
  if (mode === 'abort' || trans.status === 'succeed') return undefined;
  const reason = trans.rollback_reason;
  if (reason !== '') return new FailureError(reason.endsWith('FAILURE') ? reason : `${reason} FAILURE`);
  return new FailureError('wait result not return success: FAILURE');
}

export function createService(deps: ServiceDeps): DtmService {
  const { store, engine, config, clock, topics, kv, fence } = deps;

  /**
   * @throws BadRequestError `[DTM_URL_DENIED]` when one of `urls` (called with `protocol`) may not
   *   be called; at once when the verdicts are known, else through the promise it returns (it
   *   returns none when every verdict was known: no promise per request on the hot path).
   */
  function assertFenced(urls: Iterable<string>, protocol: string): Promise<void> | undefined {
    if (fence.open) return undefined;
    // Verdicts already known (address literals, names checked lately) are read at once; only the
    // other hosts wait for DNS, each once.
    let lookups: Map<string, Promise<string | undefined>> | undefined;
    for (const url of urls) {
      const host = url === '' ? undefined : branchHost(url, protocol);
      if (host === undefined) continue;
      const hit = fence.known(host);
      if (hit === undefined) {
        lookups ??= new Map();
        if (!lookups.has(host)) lookups.set(host, fence.checkHost(host));
      } else if (hit.why !== undefined) {
        throw new BadRequestError(`[DTM_URL_DENIED] ${hit.why}`);
      }
    }
    if (lookups === undefined) return undefined;
    return Promise.all(lookups.values()).then((refusals) => {
      const why = refusals.find((r) => r !== undefined);
      if (why !== undefined) throw new BadRequestError(`[DTM_URL_DENIED] ${why}`);
    });
  }

  /** Subscribers of the body's `topic://` steps, read fresh from the KV (DTM's cache lags up to 3 s). */
  async function subscribersOf(names: readonly string[]): Promise<ReadonlyMap<string, readonly string[]>> {
    return new Map(await Promise.all(names.map(async (n) => [n, await topics.resolve(n)] as const)));
  }

  /**
   * Stores a new transaction (or reports the one there) with its first schedule. A submit also
   * reserves the slot of the round it starts (load-levelling, round-slots.ts): when none is free
   * and the caller does not wait, it is stored due at once and left to the poller.
   * @returns `reserved`: the caller owns a slot and hands it to drive() or gives it back.
   */
  async function create(body: TransBody, status: 'prepared' | 'submitted', mode: 'prepare' | 'submit') {
    const strategy = strategies[body.trans_type];
    const topicNames = strategy.topicsOf(body);
    const branches = strategy.branchesOf(body, topicNames.length === 0 ? NO_SUBSCRIBERS : await subscribersOf(topicNames));
    const fencing = assertFenced([body.req.query_prepared, ...branches.map((b) => b.url)], body.req.protocol);
    if (fencing !== undefined) await fencing;
    const now = clock.now();
    const timeoutS = body.req.options.timeout_to_fail > 0 ? body.req.options.timeout_to_fail : strategy.defaultTimeoutS(config);
    const cron = firstSchedule(status, strategy.preparedWait, body.req.options, timeoutS, config, now);
    const reserved = status === 'submitted' && engine.reserve();
    if (status === 'submitted' && !reserved && !body.req.options.wait_result) cron.at = now;
    let outcome: Awaited<ReturnType<Store['createTrans']>>;
    try {
      outcome = await store.createTrans(
        { gid: body.gid, trans_type: body.trans_type, status, req: body.req, branches, next_cron_interval: cron.interval, next_cron_time: cron.at },
        mode,
      );
    } catch (err) {
      if (reserved) engine.unreserve();
      throw err;
    }
    return { outcome, now, cron, branches, reserved };
  }

  /**
   * Drives `trans`: in the background in the slot `reserved` for it (without one it is due now in
   * the schedule, for the poller), or, when the caller waits, until its round ends (in line for a
   * slot when none was free). Takes over the reserved slot.
   */
  async function drive(trans: Trans, wait: boolean, mode: 'submit' | 'abort', reserved: boolean): Promise<void> {
    if (!wait) {
      // The engine never rejects; and were this process to die, the schedule finishes the job.
      if (reserved) void engine.drive(trans, { reserved });
      // Persisted (due now, unless it was already scheduled): a poller with free slots takes it.
      else engine.slots.defer();
      return;
    }
    // The status the caller is told about is an acknowledged write too.
    const answer = waitResultAnswer(await engine.drive(trans, { acknowledged: true, reserved }), mode);
    if (answer !== undefined) throw answer;
  }

  /**
   * Moves a prepared TCC/XA to aborting; `driven`: a round starts here (else, with every round
   * slot busy, the rollback is due at once for the poller).
   */
  async function startRollback(trans: Trans, reason: string, driven: boolean): Promise<void> {
    const { gid } = trans;
    const change: Parameters<Store['changeStatus']>[3] = { nextCronTime: clock.now() + (driven ? leaseMs(config) : 0) };
    if (reason !== '') change.rollbackReason = reason;
    const r = await store.changeStatus(gid, 'prepared', 'aborting', change, true);
    if (r.tag === 'NOT_FOUND') throw notFoundGid(gid);
    if (r.tag === 'STALE' && r.current !== 'aborting') {
      throw new FailureError(`trans type: '${trans.trans_type}' current status '${r.current}', cannot abort. FAILURE`);
    }
    trans.status = 'aborting';
    if (reason !== '') trans.rollback_reason = reason;
  }

  async function loadOrFail(gid: string): Promise<Trans> {
    const t = await store.getTrans(gid);
    if (t === undefined) throw notFoundGid(gid);
    return t;
  }

  /**
   * A workflow's submit records its outcome (`req_extra.status`, `rollback_reason`, `result`) on
   * the prepared record; it starts no processing. DTM answers 500 `storage: NotFound` when the
   * workflow is not prepared.
   */
  async function recordOutcome(body: TransBody): Promise<void> {
    const extra = body.req_extra;
    const status = extra['status'];
    if (status !== 'succeed' && status !== 'failed') {
      throw new BadRequestError(`[DTM_BAD_FIELD] req_extra.status must be "succeed" or "failed", got ${JSON.stringify(status)}`);
    }
    const r = await store.changeStatus(body.gid, 'prepared', status, { rollbackReason: extra['rollback_reason'] ?? '', result: extra['result'] ?? '' }, true);
    if (r.tag === 'OK' || (r.tag === 'STALE' && r.current === status)) return;
    throw new InternalError('storage: NotFound');
  }

  return {
    newGid,

    async prepare(body) {
      const { outcome } = await create(body, 'prepared', 'prepare');
      if (outcome.tag === 'OK' || outcome.trans.status === 'prepared') return;
      throw new FailureError(`current status '${outcome.trans.status}', cannot prepare. FAILURE`);
    },

    async submit(body) {
      if (strategies[body.trans_type].submit === 'record') return recordOutcome(body);
      const { outcome, now, cron, branches, reserved } = await create(body, 'submitted', 'submit');
      let trans: Trans;
      if (outcome.tag === 'OK') {
        trans = freshTrans(body, 'submitted', now, cron.at, cron.interval, branches);
      } else {
        trans = outcome.trans;
        if (outcome.tag === 'PROMOTED') trans.status = 'submitted';
        else if (trans.status !== 'submitted') {
          if (reserved) engine.unreserve();
          throw new FailureError(`current status '${trans.status}', cannot sumbmit. FAILURE`);
        }
        // As in DTM, this submit's own custom_data (e.g. a msg delay) governs the processing it starts.
        if (body.req.custom_data !== '') trans.req = { ...trans.req, custom_data: body.req.custom_data };
      }
      await drive(trans, body.req.options.wait_result, 'submit', reserved);
    },

    async abort({ gid, trans_type: requested, rollback_reason: reason }) {
      // The flash-sale path (a sold-out buyer aborts its prepared msg; DTM's SDKs send the msg's
      // trans_type) in one round trip, without loading the record; anything else, or a guard
      // that does not hold, takes the general path below.
      if (isTransType(requested) && strategies[requested].abort === 'fail') {
        const quick = await store.changeStatus(gid, 'prepared', 'failed', { expectedType: requested }, true);
        if (quick.tag === 'OK') return;
      }
      const trans = await loadOrFail(gid);
      if (strategies[trans.trans_type].abort === 'fail' && trans.status === 'prepared') {
        const r = await store.changeStatus(gid, 'prepared', 'failed', {}, true);
        if (r.tag === 'OK' || (r.tag === 'STALE' && r.current === 'failed')) return;
        throw new FailureError(`trans type: '${trans.trans_type}' current status '${r.tag === 'STALE' ? r.current : 'missing'}', cannot abort. FAILURE`);
      }
      // As in DTM, the type the request names must roll back (tcc, xa), whatever is stored.
      const rollsBack = isTransType(requested) && strategies[requested].abort === 'rollback';
      if (!rollsBack || (trans.status !== 'prepared' && trans.status !== 'aborting')) {
        throw new FailureError(`trans type: '${trans.trans_type}' current status '${trans.status}', cannot abort. FAILURE`);
      }
      // The options stored at prepare decide whether the caller waits (DTM uses the stored copy).
      const wait = trans.req.options.wait_result;
      // The rollback round's slot, as for a submit (see create()).
      const reserved = engine.reserve();
      try {
        if (trans.status === 'prepared') await startRollback(trans, reason, reserved || wait);
      } catch (err) {
        if (reserved) engine.unreserve();
        throw err;
      }
      await drive(trans, wait, 'abort', reserved);
    },

    async registerBranch(body) {
      if (!isTransType(body.trans_type)) throw new InternalError(`unknow trans type: ${body.trans_type}`);
      const branches = strategies[body.trans_type].registeredBranchesOf(body);
      await assertFenced(
        branches.map((b) => b.url),
        body.protocol,
      );
      const r = await store.registerBranch(body.gid, branches);
      switch (r.tag) {
        case 'OK':
          return;
        case 'NOT_FOUND':
        case 'STALE':
          throw new FailureError(`no trans with gid: ${body.gid} status: prepared found FAILURE`);
        case 'DUP':
          throw new InternalError('storage: UniqueKeyConflict');
        default:
          return r satisfies never;
      }
    },

    async prepareWorkflow(body) {
      // The workflow strategy's branchesOf checks custom_data (its name and input).
      const { outcome } = await create(body, 'prepared', 'prepare');
      // New or not, answer with the stored record and its recorded progress.
      return outcome.tag === 'OK' ? loadOrFail(body.gid) : outcome.trans;
    },

    async forceStop(gid) {
      let status = (await loadOrFail(gid)).status;
      // The status may move under us (a round in flight): retry the compare-and-set a few times.
      for (let attempt = 0; attempt < 5; attempt++) {
        if (status === 'succeed' || status === 'failed') {
          throw new FailureError(`global transaction force stop error. status: ${status}. error: FAILURE`);
        }
        const r = await store.changeStatus(gid, status, 'failed', {}, true);
        if (r.tag === 'OK') return;
        if (r.tag === 'NOT_FOUND') throw notFoundGid(gid);
        status = r.current;
      }
      throw new InternalError(`force stop of ${gid} kept racing with its processing; try again`);
    },

    async resetNextCronTime(gid) {
      if ((await store.resetNextCron(gid)) === 'NOT_FOUND') throw notFoundGid(gid);
    },

    async resetCronTime({ timeoutS = (3 * config.timeoutToFailMs) / 1000, limit = 100 }) {
      const from = clock.now() + timeoutS * 1000;
      let count = 0;
      let hasRemaining = false;
      for (let b = 0; b < store.keys.buckets && !hasRemaining; b++) {
        const r = await store.resetCron(b, from, limit - count);
        count += r.count;
        hasRemaining = r.hasRemaining;
      }
      return { count, hasRemaining };
    },

    query: (gid) => store.getTrans(gid),
    list: (q) => store.listTrans(q),
    backlog: () => store.backlog(),

    async subscribe(topic, url, remark) {
      // DTM's own checks (empty topic, empty url, in topics.ts) come first and keep their 500s;
      // a URL no msg could ever call is refused here.
      if (topic !== '' && url !== '') {
        // A subscriber may be called by HTTP and by gRPC messages: either kind of URL will do.
        assertBranchUrl(url, 'url', 'grpc');
        await assertFenced([url], 'grpc');
      }
      await topics.subscribe(topic, url, remark);
    },
    unsubscribe: (topic, url) => topics.unsubscribe(topic, url),
    deleteTopic: (topic) => topics.deleteTopic(topic),

    async queryKV(cat, key, max) {
      if (key === '') return kv.list(cat, max);
      const r = await kv.get(cat, key);
      return r === undefined ? [] : [r];
    },
    scanKV: (cat, position, limit) => kv.scan(cat, position, limit),
  };
}
