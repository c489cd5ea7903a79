/**
 * The store: one typed function per Lua transition (each script defined once, in
 * trans-scripts.ts and schedule-scripts.ts) plus the reads. Domain outcomes come back as
 * discriminated unions; only broken contracts (StoreContractError) and an unreachable Redis
 * (StoreUnavailableError) are thrown.
 */
import type { Clock } from '../clock.js';
import { StoreContractError, StoreUnavailableError } from '../errors.js';
import type { Trans, TransStatus } from '../types.js';
import type { Keys } from './keys.js';
import { listTransactions, type ListPage, type ListQuery } from './list-trans.js';
import type { RedisClient } from './redis.js';
import { decodeTrans } from './replies.js';
import { claimDue, pruneIndex, resetCron } from './schedule-scripts.js';
import { createReplicaWaiter, type Durability } from './replica-wait.js';
import { createScriptRunner, type ScriptObserver } from './script-runner.js';
import { readFailure, type ReadFailureObserver } from './store-error.js';
import {
  changeStatus,
  createTrans,
  registerBranch,
  resetNextCron,
  saveProgress,
  type CasOutcome,
  type ChangeStatusInput,
  type CreateOutcome,
  type NewTrans,
  type ProgressInput,
  type RegisteredBranch,
  type RegisterOutcome,
} from './trans-scripts.js';

export interface Store {
  readonly keys: Keys;
  /** Creates (or finds) a transaction; an acknowledged write (see `durability`). */
  createTrans(t: NewTrans, mode: 'prepare' | 'submit'): Promise<CreateOutcome>;
  /** Appends branches to a prepared transaction; DUP when the first one's (branch_id, op) exists. An acknowledged write. */
  registerBranch(gid: string, branches: readonly RegisteredBranch[]): Promise<RegisterOutcome>;
  saveProgress(gid: string, expected: TransStatus, input: ProgressInput): Promise<CasOutcome>;
  /** @param acknowledged the caller answers a client with this change: confirm it like createTrans. */
  changeStatus(gid: string, expected: TransStatus, next: TransStatus, input: ChangeStatusInput, acknowledged?: boolean): Promise<CasOutcome>;
  claimDue(bucket: number, leaseMs: number, limit: number): Promise<string[]>;
  resetCron(bucket: number, fromMs: number, limit: number): Promise<{ count: number; hasRemaining: boolean }>;
  resetNextCron(gid: string): Promise<'OK' | 'NOT_FOUND'>;
  /** Drops up to `limit` expired finished transactions from a bucket's listing index; `more` when others are due. */
  pruneIndex(bucket: number, limit: number): Promise<{ removed: number; more: boolean }>;
  /** Unfinished transactions by status and the oldest schedule entry, over every bucket (for metrics). */
  backlog(): Promise<Backlog>;
  getTrans(gid: string): Promise<Trans | undefined>;
  listTrans(q: ListQuery): Promise<ListPage>;
  ping(): Promise<void>;
}

/** What is left to do: counts kept by the scripts, and the earliest next cron time (ms). */
export interface Backlog {
  byStatus: Record<'prepared' | 'submitted' | 'aborting', number>;
  /** The earliest next cron time of any unfinished transaction (leases included); undefined when none. */
  earliestDue: number | undefined;
}

export interface StoreOptions {
  /** TTL of a finished transaction's record. */
  finishedDataExpireS: number;
  /** Told of every script call (for metrics). */
  observe?: ScriptObserver;
  /** Told of every failed read (for metrics; a failed script reaches `observe` as ERROR). */
  readFailed?: ReadFailureObserver;
  /**
   * Acknowledged writes wait for this many replicas (STORE_WAIT_REPLICAS), on `ackRedis`: WAIT
   * blocks the connection it is sent on, so acknowledged writes get their own connection and the
   * rounds' writes, claims and reads never queue behind a WAIT. @default none
   */
  durability?: Durability & { ackRedis: RedisClient };
}

/** Builds the store over a connected client whose scripts are defined. */
export function createStore(redis: RedisClient, keys: Keys, clock: Clock, opts: StoreOptions): Store {
  const run = createScriptRunner(redis, keys, opts.observe);
  const failed = readFailure(opts.readFailed);
  const durability = opts.durability !== undefined && opts.durability.replicas > 0 ? opts.durability : undefined;
  /** Acknowledged writes: on their own connection when they wait for replicas. */
  const runAcked = durability === undefined ? run : createScriptRunner(durability.ackRedis, keys, opts.observe);
  const waiter = durability === undefined ? undefined : createReplicaWaiter(durability.ackRedis, durability);

  /**
   * An acknowledged write of `gid`'s record, confirmed with the replicas when the operator asked
   * for that; without replicas to wait for, the write itself (no extra promise per call).
   */
  const acknowledged: <T>(gid: string, write: Promise<T>) => Promise<T> =
    waiter === undefined
      ? (_gid, write) => write
      : async (gid, write) => {
          const outcome = await write;
          await waiter.confirm(keys.trans(gid));
          return outcome;
        };

  async function getTrans(gid: string): Promise<Trans | undefined> {
    const bucket = keys.bucketOf(gid);
    let res: [Error | null, unknown][] | null;
    try {
      res = await redis.multi().hgetallBuffer(keys.trans(gid)).zscore(keys.due(bucket), gid).exec();
    } catch (err) {
      throw failed(err, 'getTrans');
    }
    if (res === null) throw failed(new StoreUnavailableError('getTrans: transaction aborted'), 'getTrans');
    const [[e1, hash], [e2, score]] = res as [[Error | null, Record<string, Buffer>], [Error | null, string | null]];
    if (e1 || e2) throw failed(e1 ?? e2, 'getTrans');
    const m = new Map(Object.entries(hash));
    if (m.size === 0) return undefined;
    return decodeTrans(gid, m, score === null ? undefined : Number(score));
  }

  return {
    keys,
    createTrans: (trans, mode) => acknowledged(trans.gid, runAcked(createTrans, { trans, mode, now: clock.now() })),
    async registerBranch(gid, branches) {
      const [first, ...rest] = branches;
      if (first === undefined) throw new StoreContractError('registerBranch: no branches');
      return acknowledged(gid, runAcked(registerBranch, { gid, branches: [first, ...rest], now: clock.now() }));
    },
    saveProgress: (gid, expected, progress) => run(saveProgress, { gid, expected, progress, now: clock.now() }),
    changeStatus(gid, expected, next, change, ack = false) {
      const input = { gid, expected, next, change, finishedDataExpireS: opts.finishedDataExpireS, now: clock.now() };
      return ack ? acknowledged(gid, runAcked(changeStatus, input)) : run(changeStatus, input);
    },
    claimDue: (bucket, leaseMs, limit) => run(claimDue, { bucket, leaseMs, limit, now: clock.now() }),
    resetCron: (bucket, fromMs, limit) => run(resetCron, { bucket, fromMs, limit, now: clock.now() }),
    resetNextCron: (gid) => run(resetNextCron, { gid, now: clock.now() }),
    pruneIndex: (bucket, limit) => run(pruneIndex, { bucket, limit, now: clock.now() }),
    getTrans,

    async backlog() {
      const byStatus = { prepared: 0, submitted: 0, aborting: 0 };
      let earliestDue: number | undefined;
      try {
        // One command per bucket; in one loop turn they leave in one write (write-coalescing.ts).
        const buckets = Array.from({ length: keys.buckets }, (_, b) => b);
        const [stats, heads] = await Promise.all([
          Promise.all(buckets.map((b) => redis.hgetall(keys.stats(b)))),
          Promise.all(buckets.map((b) => redis.zrange(keys.due(b), '0', '0', 'WITHSCORES'))),
        ]);
        for (const s of stats) for (const status of Object.keys(byStatus) as (keyof typeof byStatus)[]) byStatus[status] += Number(s[status] ?? 0);
        for (const head of heads) {
          if (head[1] !== undefined) earliestDue = Math.min(earliestDue ?? Infinity, Number(head[1]));
        }
      } catch (err) {
        throw failed(err, 'backlog');
      }
      return { byStatus, earliestDue };
    },

    listTrans: (q) => listTransactions(redis, keys, getTrans, q, failed),

    async ping() {
      try {
        await redis.ping();
      } catch (err) {
        throw failed(err, 'ping');
      }
    },
  };
}
