/**
 * One processing round of one transaction: the in-memory copy, the branch calls, and the writes.
 *
 * Branch results are written behind. With UPDATE_BRANCH_SYNC=1 (DTM's behaviour) a result waits
 * only until the next external call, so recovery after a crash resumes exactly at the next step.
 * By default (0) it waits for the round's next status change, and a call still in flight after
 * BRANCH_WRITE_BEHIND_MS writes what is pending alongside it: after a crash, recovery may re-call
 * branches that finished within that window (branches are idempotent by DTM's contract). An
 * empty-URL saga and a saga with two fast real calls are thus both 2 Redis round trips (create,
 * finish) where DTM needs 4.
 */
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { DtmError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { MAX_ERROR_BYTES } from '../store/trans-scripts.js';
import { isFinal, type BranchStatus, type Trans, type TransStatus } from '../types.js';
import type { BranchOutcome, BranchRequest } from './branch-call.js';
import type { BranchCaller } from './branch-caller.js';
import { describeFailure, logFailedCalls, type FailedCall } from './failure-log.js';
import { createPendingWrites } from './pending-writes.js';
import { baseInterval, isPastDeadline, leaseMs, moveAfter, nextInterval, retryCountOf } from './schedule.js';
import { strategies } from './strategies.js';

/** What processing reports to metrics and alerts; implemented by metrics.ts. */
export interface ProcessObserver {
  branchStarted(): void;
  branchCalled(model: string, branchId: string, op: string, result: BranchOutcome['result'], seconds: number): void;
  /** A round ended: `ok` as DTM's Process() would return no error (see engine.ts). */
  roundDone(model: string, ok: boolean, secondsSinceCreate: number): void;
  /** A claimed transaction had been claimed before and never rescheduled: that lease expired. */
  leaseExpired(model: string): void;
  /** After a backoff: DTM's alert check (retry count = ⌊log2(interval/base)⌋). */
  backedOff(trans: Trans, retryCount: number, branchUrl: string, error: string): void;
}

export interface RoundDeps {
  store: Store;
  config: Config;
  clock: Clock;
  /** Calls a branch over HTTP, JSON-RPC or gRPC, as the transaction's protocol and the URL say. */
  caller: BranchCaller;
  log: Logger;
  observer: ProcessObserver;
}

/** The transaction changed under us (another process or an admin call): stop this round. */
export class StaleRoundError extends Error {
  constructor(
    readonly gid: string,
    readonly current: TransStatus | 'missing',
  ) {
    super(`transaction ${gid} changed concurrently (now ${current})`);
    this.name = 'StaleRoundError';
  }
}

export interface Round {
  readonly trans: Trans;
  readonly deps: RoundDeps;
  /** Set by a processor to make a `wait_result` caller see this error (msg branch errors). */
  error: DtmError | undefined;
  /** Calls branch `index`; results of earlier branches are written first if the URL is real. */
  callBranch(index: number): Promise<BranchOutcome>;
  /** Calls a URL that is not a stored branch (msg check-back `00/msg`, workflow resume). */
  callUrl(url: string, branchId: string, op: string, body: string | Buffer): Promise<BranchOutcome>;
  /** Records a branch's new status in memory; it is written with the next write. */
  setBranch(index: number, status: BranchStatus): void;
  /** Compare-and-set the global status, writing pending branch results with it. */
  changeStatus(next: TransStatus, rollbackReason?: string): Promise<void>;
  /** Fixes the next cron time explicitly (msg delay, prepared deadlines) instead of the outcome rule. */
  scheduleAt(nextCronTime: number, interval?: number): void;
  /** The transaction's timeout per DTM: its timeout_to_fail, else its type's default; 0 = never. */
  timeoutSeconds(): number;
  isTimedOut(): boolean;
  /** Writes what is pending and the next cron time; called once when the round ends. */
  end(): Promise<void>;
}

/** How long, by default, a branch result may stay unwritten while another branch call runs. */
export const BRANCH_WRITE_BEHIND_MS = 100;

/** @param acknowledged a caller waits for this round, so its status changes are acknowledged writes. */
export function createRound(trans: Trans, deps: RoundDeps, acknowledged = false): Round {
  const { store, config, clock, caller, observer, log } = deps;
  const pending = createPendingWrites();
  /** This round's failed calls, logged when it ends (once the next retry time is known). */
  const failedCalls: FailedCall[] = [];
  let sawError = false;
  let sawOngoing = false;
  let sawSuccess = false;
  let lastError: { url: string; detail: string } | undefined;
  let explicit: { at: number; interval: number | undefined } | undefined;
  const options = trans.req.options;
  const timeoutMs = options.request_timeout > 0 ? options.request_timeout * 1000 : config.requestTimeoutMs;
  /** A background write of pending results (write-behind mode), awaited before any other write. */
  let writing: Promise<void> | undefined;
  /** What that background write hit (a concurrent change, Redis down): the round stops with it. */
  let writeFailure: { cause: unknown } | undefined;
  let writeTimer: NodeJS.Timeout | undefined;

  const note = (o: BranchOutcome, url: string): void => {
    if (o.result === 'SUCCESS') sawSuccess = true;
    else if (o.result === 'ONGOING') sawOngoing = true;
    else {
      sawError = true;
      lastError = { url, detail: o.detail };
    }
  };

  /** Takes the pending results for a write; the caller writes them. */
  const takePending = (): ReturnType<typeof pending.take> => {
    if (writeTimer !== undefined) {
      clearTimeout(writeTimer);
      writeTimer = undefined;
    }
    return pending.take();
  };

  /** Counts a call to branch `index` and keeps what an operator needs to see of a failure. */
  const recordAttempt = (index: number, o: BranchOutcome): void => {
    const b = trans.branches[index]!;
    const now = clock.now();
    b.attempts += 1;
    b.last_attempt_time = now;
    const failed = o.result !== 'SUCCESS';
    if (failed) {
      b.last_error = describeFailure(o, MAX_ERROR_BYTES);
      failedCalls.push({ branchId: b.branch_id, op: b.op, url: b.url, outcome: o, attempt: b.attempts });
    }
    // A first-try success needs no record: the decoder derives it (see replies.ts).
    if (failed || b.attempts > 1) pending.attempt({ index, attempts: b.attempts, lastAttemptTime: now, lastError: failed ? b.last_error : '' });
  };

  /** Waits for a background write and rethrows what it hit, so writes stay ordered and guarded. */
  const settle = async (): Promise<void> => {
    if (writing !== undefined) await writing;
    if (writeFailure !== undefined) throw writeFailure.cause;
  };

  const flush = async (): Promise<void> => {
    await settle();
    if (pending.empty) return;
    const r = await store.saveProgress(trans.gid, trans.status, takePending());
    if (r.tag !== 'OK') throw new StaleRoundError(trans.gid, r.tag === 'STALE' ? r.current : 'missing');
  };

  /** Branch calls of this round still running. */
  const callsInFlight = new Set<Promise<BranchOutcome>>();

  /** Write-behind: pending results are written if still pending after BRANCH_WRITE_BEHIND_MS. */
  const armWriteTimer = (): void => {
    if (config.updateBranchSync || pending.empty || writeTimer !== undefined) return;
    writeTimer = setTimeout(() => {
      writeTimer = undefined;
      writing = flush()
        .catch((err: unknown) => {
          writeFailure = { cause: err };
        })
        .finally(() => {
          writing = undefined;
        });
    }, BRANCH_WRITE_BEHIND_MS);
  };

  /** Before an external call: write pending results now (sync mode) or if the call runs long. */
  const beforeCall = async (): Promise<void> => {
    if (config.updateBranchSync) {
      await flush();
      return;
    }
    await settle();
    armWriteTimer();
  };

  /**
   * Runs one external call. If a background write failed meanwhile, the round stops with that
   * error, but only once its other calls have answered, so no call outlives its round.
   */
  const external = async (url: string, branchId: string, op: string, body: string | Buffer): Promise<BranchOutcome> => {
    await beforeCall();
    const running = call(url, branchId, op, body);
    callsInFlight.add(running);
    let outcome: BranchOutcome;
    try {
      outcome = await running;
    } finally {
      callsInFlight.delete(running);
    }
    try {
      await settle();
    } catch (err) {
      await Promise.allSettled([...callsInFlight]);
      throw err;
    }
    return outcome;
  };

  const alwaysPost = strategies[trans.trans_type].postBranchCalls === 'always';
  const call = async (url: string, branchId: string, op: string, body: string | Buffer): Promise<BranchOutcome> => {
    const started = process.hrtime.bigint();
    const req: BranchRequest = {
      url,
      method: alwaysPost || body.length > 0 ? 'POST' : 'GET',
      body,
      query: { gid: trans.gid, trans_type: trans.trans_type, branch_id: branchId, op },
      headers: options.branch_headers,
      timeoutMs,
    };
    observer.branchStarted();
    const outcome = await caller.call(trans.req.protocol, req);
    observer.branchCalled(trans.trans_type, branchId, op, outcome.result, Number(process.hrtime.bigint() - started) / 1e9);
    note(outcome, url);
    return outcome;
  };

  const round: Round = {
    trans,
    deps,
    error: undefined,

    async callBranch(index) {
      const b = trans.branches[index];
      if (b === undefined) throw new Error(`no branch ${index} in ${trans.gid}`);
      if (b.url === '') {
        // An empty URL is success without a call (DTM's TestSagaEmptyUrl).
        const o: BranchOutcome = { result: 'SUCCESS', status: 200, detail: '' };
        note(o, '');
        return o;
      }
      const o = await external(b.url, b.branch_id, b.op, b.data);
      recordAttempt(index, o);
      // A concurrent saga may record a result while its other calls run on: bound its wait too.
      if (callsInFlight.size > 0) armWriteTimer();
      return o;
    },

    async callUrl(url, branchId, op, body) {
      const o = await external(url, branchId, op, body);
      // Not a stored branch: its failures are logged, counted by the transaction's retries.
      if (o.result !== 'SUCCESS') failedCalls.push({ branchId, op, url, outcome: o, attempt: trans.retries + 1 });
      return o;
    },

    setBranch(index, status) {
      const b = trans.branches[index];
      if (b === undefined) throw new Error(`no branch ${index} in ${trans.gid}`);
      b.status = status;
      b.finish_time = clock.now();
      pending.status(index, status);
      // A concurrent saga may record a result while its other calls run on: bound its wait too.
      if (callsInFlight.size > 0) armWriteTimer();
    },

    async changeStatus(next, rollbackReason) {
      await settle();
      const finished = isFinal(next);
      const base = baseInterval(options, config);
      const input: Parameters<Store['changeStatus']>[3] = takePending();
      if (rollbackReason !== undefined && rollbackReason !== '') input.rollbackReason = rollbackReason;
      if (!finished) {
        // A new phase starts now (aborting, or submitted after a check-back): due at once if we die.
        input.nextCronTime = clock.now() + leaseMs(config);
        input.nextCronInterval = base;
      }
      const r = await store.changeStatus(trans.gid, trans.status, next, input, acknowledged);
      if (r.tag === 'STALE' && r.current === next) {
        // A replay or a concurrent round got there first: the outcome we wanted holds.
      } else if (r.tag !== 'OK') {
        throw new StaleRoundError(trans.gid, r.tag === 'STALE' ? r.current : 'missing');
      }
      trans.status = next;
      trans.update_time = clock.now();
      if (rollbackReason) trans.rollback_reason = rollbackReason;
      if (next === 'succeed') trans.finish_time = clock.now();
      if (next === 'failed') trans.rollback_time = clock.now();
      if (!finished) trans.next_cron_interval = base;
    },

    scheduleAt(at, interval) {
      explicit = { at, interval };
    },

    timeoutSeconds() {
      if (options.timeout_to_fail > 0) return options.timeout_to_fail;
      return strategies[trans.trans_type].defaultTimeoutS(config);
    },

    isTimedOut() {
      return isPastDeadline(trans.create_time, round.timeoutSeconds(), clock.now());
    },

    async end() {
      await settle();
      if (isFinal(trans.status)) {
        logFailedCalls(log, trans, failedCalls, { retryAt: undefined, status: trans.status });
        return;
      }
      const base = baseInterval(options, config);
      const now = clock.now();
      let at: number;
      let interval: number;
      if (explicit !== undefined) {
        interval = explicit.interval ?? trans.next_cron_interval;
        at = explicit.at;
      } else {
        interval = nextInterval(moveAfter({ sawError, sawOngoing, sawSuccess }), trans.next_cron_interval || base, base);
        at = now + interval * 1000;
      }
      const backedOff = sawError && explicit === undefined;
      if (backedOff) trans.retries += 1;
      const r = await store.saveProgress(trans.gid, trans.status, {
        ...takePending(),
        nextCronTime: Math.round(at),
        nextCronInterval: interval,
        retryCount: trans.retry_count,
        retries: trans.retries,
      });
      if (r.tag !== 'OK') throw new StaleRoundError(trans.gid, r.tag === 'STALE' ? r.current : 'missing');
      trans.next_cron_time = Math.round(at);
      trans.scheduled_time = Math.round(at);
      trans.next_cron_interval = interval;
      logFailedCalls(log, trans, failedCalls, { retryAt: Math.round(at), status: trans.status });
      if (backedOff && lastError !== undefined) {
        observer.backedOff(trans, retryCountOf(interval, base), lastError.url, lastError.detail);
      }
    },
  };
  return round;
}
