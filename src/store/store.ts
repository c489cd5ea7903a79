/**
 * The store: one typed function per Lua transition plus the reads. Domain outcomes come back as
 * discriminated unions; only broken contracts (StoreContractError) and an unreachable Redis
 * (StoreUnavailableError) are thrown.
 */
import type { Clock } from '../clock.js';
import { pack } from '../codec.js';
import { BadRequestError, StoreContractError, StoreUnavailableError } from '../errors.js';
import { BRANCH_STATUS_CODE, type BranchStatus, type Trans, type TransRequest, type TransStatus, type TransType } from '../types.js';
import type { Keys } from './keys.js';
import { encodeRequest } from './request-blob.js';
import { storeError } from './store-error.js';
import type { RedisClient } from './redis.js';
import { asInt, asStatus, asText, decodeTrans, flatToMap, type ReplyTag } from './replies.js';
import type { ScriptName } from './scripts.js';
import { createScriptRunner, type ScriptObserver } from './script-runner.js';

export type { ScriptObserver } from './script-runner.js';

/** A branch as created or registered: everything but its status. */
export interface NewBranch {
  branch_id: string;
  op: string;
  url: string;
  data: string;
}

export interface NewTrans {
  gid: string;
  trans_type: TransType;
  status: 'prepared' | 'submitted';
  req: TransRequest;
  branches: readonly NewBranch[];
  /** Seconds. */
  next_cron_interval: number;
  /** ms */
  next_cron_time: number;
}

export type CreateOutcome = { tag: 'OK' } | { tag: 'EXISTS'; trans: Trans } | { tag: 'PROMOTED'; trans: Trans };

export type CasOutcome = { tag: 'OK' } | { tag: 'NOT_FOUND' } | { tag: 'STALE'; current: TransStatus };

/** A branch result to record: index into the branch list (0-based) and its new status. */
export type BranchUpdate = readonly [index: number, status: BranchStatus];

export interface ProgressInput {
  branchUpdates?: readonly BranchUpdate[];
  /** ms; leave undefined to keep the schedule. */
  nextCronTime?: number;
  /** s */
  nextCronInterval?: number;
  retryCount?: number;
}

export interface ChangeStatusInput extends ProgressInput {
  rollbackReason?: string;
  result?: string;
  /** Also require this stored trans_type; a mismatch answers STALE like a status mismatch. */
  expectedType?: TransType;
}

/** A branch to register, with the status it is stored with (workflow progress is final at once). */
export interface RegisteredBranch extends NewBranch {
  status: BranchStatus;
}

export type RegisterOutcome = { tag: 'OK' } | { tag: 'NOT_FOUND' } | { tag: 'STALE'; current: TransStatus } | { tag: 'DUP' };

export interface ListQuery {
  position: string;
  limit: number;
  status?: string;
  transType?: string;
  /** ms, exclusive bounds on create time */
  createTimeStart?: number;
  createTimeEnd?: number;
}

export interface Store {
  readonly keys: Keys;
  createTrans(t: NewTrans, mode: 'prepare' | 'submit'): Promise<CreateOutcome>;
  /** Appends branches to a prepared transaction; DUP when the first one's (branch_id, op) exists. */
  registerBranch(gid: string, branches: readonly RegisteredBranch[]): Promise<RegisterOutcome>;
  saveProgress(gid: string, expected: TransStatus, input: ProgressInput): Promise<CasOutcome>;
  changeStatus(gid: string, expected: TransStatus, next: TransStatus, input: ChangeStatusInput): Promise<CasOutcome>;
  claimDue(bucket: number, leaseMs: number, limit: number): Promise<string[]>;
  resetCron(bucket: number, fromMs: number, limit: number): Promise<{ count: number; hasRemaining: boolean }>;
  resetNextCron(gid: string): Promise<'OK' | 'NOT_FOUND'>;
  pruneIndex(bucket: number, beforeMs: number, limit: number): Promise<number>;
  /** Transactions due now in each bucket (ZCOUNT per bucket; for metrics). */
  countDue(): Promise<number[]>;
  getTrans(gid: string): Promise<Trans | undefined>;
  listTrans(q: ListQuery): Promise<{ transactions: Trans[]; nextPosition: string }>;
  ping(): Promise<void>;
}

function branchArgs(updates: readonly BranchUpdate[] | undefined): string[] {
  const out: string[] = [];
  for (const [i, st] of updates ?? []) out.push(String(i + 1), BRANCH_STATUS_CODE[st]);
  return out;
}

const opt = (v: number | undefined): string => (v === undefined ? '' : String(v));

export interface StoreOptions {
  finishedDataExpireS: number;
  observe?: ScriptObserver;
}

/** Builds the store over a connected client whose scripts are defined. */
export function createStore(redis: RedisClient, keys: Keys, clock: Clock, opts: StoreOptions): Store {
  const run = createScriptRunner(redis, opts.observe, 'buffers');

  function cas(name: ScriptName, split: { tag: ReplyTag; rest: unknown[] }): CasOutcome {
    switch (split.tag) {
      case 'OK':
        return { tag: 'OK' };
      case 'NOT_FOUND':
        return { tag: 'NOT_FOUND' };
      case 'STALE':
        return { tag: 'STALE', current: asStatus(split.rest[0], `${name} current status`) };
      case 'EXISTS':
      case 'PROMOTED':
      case 'DUP':
        throw new StoreContractError(`${name}: unexpected tag ${split.tag}`);
      default:
        return split.tag satisfies never;
    }
  }

  async function getTrans(gid: string): Promise<Trans | undefined> {
    const bucket = keys.bucketOf(gid);
    let res: [Error | null, unknown][] | null;
    try {
      res = await redis.multi().hgetallBuffer(keys.trans(gid)).zscore(keys.due(bucket), gid).exec();
    } catch (err) {
      throw storeError(err, 'getTrans');
    }
    if (res === null) throw new StoreUnavailableError('getTrans: transaction aborted');
    const [[e1, hash], [e2, score]] = res as [[Error | null, Record<string, Buffer>], [Error | null, string | null]];
    if (e1 || e2) throw storeError(e1 ?? e2, 'getTrans');
    const m = new Map(Object.entries(hash));
    if (m.size === 0) return undefined;
    return decodeTrans(gid, m, score === null ? undefined : Number(score));
  }

  return {
    keys,

    async createTrans(t, mode) {
      const bucket = keys.bucketOf(t.gid);
      const now = clock.now();
      const args: (string | number | Buffer)[] = [
        keys.trans(t.gid),
        keys.due(bucket),
        keys.idx(bucket),
        t.gid,
        t.status,
        t.trans_type,
        now,
        t.next_cron_time,
        t.next_cron_interval,
        encodeRequest(t.req),
        mode,
      ];
      for (const b of t.branches) args.push(pack([b.branch_id, b.op, b.url, b.data]));
      const split = await run('createTrans', args);
      switch (split.tag) {
        case 'OK':
          return { tag: 'OK' };
        case 'EXISTS':
        case 'PROMOTED':
          return { tag: split.tag, trans: decodeTrans(t.gid, flatToMap(split.rest, 'createTrans record')) };
        case 'NOT_FOUND':
        case 'STALE':
        case 'DUP':
          throw new StoreContractError(`createTrans: unexpected tag ${split.tag}`);
        default:
          return split.tag satisfies never;
      }
    },

    async registerBranch(gid, branches) {
      const first = branches[0];
      if (first === undefined) throw new StoreContractError('registerBranch: no branches');
      const args: (string | number | Buffer)[] = [keys.trans(gid), gid, clock.now(), `${first.branch_id}|${first.op}`];
      for (const b of branches) args.push(pack([b.branch_id, b.op, b.url, b.data]), `${b.branch_id}|${b.op}`, BRANCH_STATUS_CODE[b.status]);
      const split = await run('registerBranch', args);
      switch (split.tag) {
        case 'OK':
        case 'NOT_FOUND':
        case 'DUP':
          return { tag: split.tag };
        case 'STALE':
          return { tag: 'STALE', current: asStatus(split.rest[0], 'registerBranch current status') };
        case 'EXISTS':
        case 'PROMOTED':
          throw new StoreContractError(`registerBranch: unexpected tag ${split.tag}`);
        default:
          return split.tag satisfies never;
      }
    },

    async saveProgress(gid, expected, input) {
      const bucket = keys.bucketOf(gid);
      const split = await run('saveProgress', [
        keys.trans(gid),
        keys.due(bucket),
        gid,
        expected,
        clock.now(),
        opt(input.nextCronTime),
        opt(input.nextCronInterval),
        opt(input.retryCount),
        ...branchArgs(input.branchUpdates),
      ]);
      return cas('saveProgress', split);
    },

    async changeStatus(gid, expected, next, input) {
      const bucket = keys.bucketOf(gid);
      const split = await run('changeStatus', [
        keys.trans(gid),
        keys.due(bucket),
        gid,
        expected,
        next,
        clock.now(),
        input.rollbackReason ?? '',
        opts.finishedDataExpireS,
        opt(input.nextCronTime),
        opt(input.nextCronInterval),
        input.result ?? '',
        input.expectedType ?? '',
        ...branchArgs(input.branchUpdates),
      ]);
      return cas('changeStatus', split);
    },

    async claimDue(bucket, leaseMs, limit) {
      const now = clock.now();
      const split = await run('claimDue', [keys.due(bucket), now, now + leaseMs, limit]);
      return split.rest.map((g) => asText(g, 'claimDue gid'));
    },

    async resetCron(bucket, fromMs, limit) {
      const split = await run('resetCron', [keys.due(bucket), fromMs, clock.now(), limit]);
      return { count: asInt(split.rest[0], 'resetCron count'), hasRemaining: asInt(split.rest[1], 'resetCron remaining') === 1 };
    },

    async resetNextCron(gid) {
      const split = await run('resetNextCron', [keys.trans(gid), keys.due(keys.bucketOf(gid)), gid, clock.now()]);
      return split.tag === 'NOT_FOUND' ? 'NOT_FOUND' : 'OK';
    },

    async pruneIndex(bucket, beforeMs, limit) {
      const split = await run('pruneIndex', [keys.idx(bucket), beforeMs, limit]);
      return asInt(split.rest[0], 'pruneIndex removed');
    },

    getTrans,

    async countDue() {
      const now = clock.now();
      try {
        return await Promise.all(Array.from({ length: keys.buckets }, (_, b) => redis.zcount(keys.due(b), '-inf', now)));
      } catch (err) {
        throw storeError(err, 'countDue');
      }
    },

    async listTrans(q) {
      return listTransactions(redis, keys, getTrans, q);
    },

    async ping() {
      try {
        await redis.ping();
      } catch (err) {
        throw storeError(err, 'ping');
      }
    },
  };
}

/** Where a listing continues: a bucket, and within it the last (score, gid) already returned. */
interface ListCursor {
  bucket: number;
  score?: number;
  gid?: string;
}

function encodeCursor(c: ListCursor): string {
  return c.score === undefined ? String(c.bucket) : `${c.bucket}:${c.score}:${c.gid ?? ''}`;
}

function decodeCursor(position: string, buckets: number): ListCursor {
  if (position === '') return { bucket: 0 };
  const m = /^(\d+)(?::(\d+):(.*))?$/.exec(position);
  if (m === null || Number(m[1]) >= buckets)
    throw new BadRequestError(`[DTM_BAD_POSITION] position ${JSON.stringify(position)} is not one this server returned`);
  return m[2] === undefined ? { bucket: Number(m[1]) } : { bucket: Number(m[1]), score: Number(m[2]), gid: m[3]! };
}

/**
 * `/all` without SCAN: walks the buckets' listing indexes, newest first within a bucket. The
 * position names the last row returned; each call examines a bounded number of records, so a
 * selective filter may return fewer rows than `limit` with a non-empty position (as DTM's
 * SCAN-based listing does). `next_position` is '' once every bucket is done.
 */
async function listTransactions(
  redis: RedisClient,
  keys: Keys,
  getTrans: (gid: string) => Promise<Trans | undefined>,
  q: ListQuery,
): Promise<{ transactions: Trans[]; nextPosition: string }> {
  let cursor = decodeCursor(q.position, keys.buckets);
  const minScore = q.createTimeStart === undefined ? '-inf' : `(${q.createTimeStart}`;
  const out: Trans[] = [];
  const budget = Math.max(q.limit * 10, 100);
  let examined = 0;
  let batch = q.limit + 16;
  while (cursor.bucket < keys.buckets) {
    const end = q.createTimeEnd;
    const tiesPending = cursor.score !== undefined && (end === undefined || cursor.score < end);
    const maxScore = tiesPending ? String(cursor.score) : end === undefined ? '+inf' : `(${end}`;
    let rows: string[];
    try {
      rows = await redis.zrange(keys.idx(cursor.bucket), maxScore, minScore, 'BYSCORE', 'REV', 'LIMIT', 0, batch, 'WITHSCORES');
    } catch (err) {
      throw storeError(err, 'listTrans');
    }
    let progressed = false;
    for (let i = 0; i + 1 < rows.length; i += 2) {
      const gid = rows[i]!;
      const score = Number(rows[i + 1]);
      // Under REV, equal scores come in descending gid order: skip the ones already returned.
      if (tiesPending && score === cursor.score && gid >= (cursor.gid ?? '')) continue;
      progressed = true;
      cursor = { bucket: cursor.bucket, score, gid };
      examined++;
      const t = await getTrans(gid);
      if (t !== undefined && (q.status === undefined || t.status === q.status) && (q.transType === undefined || t.trans_type === q.transType)) {
        out.push(t);
      }
      if (out.length >= q.limit || examined >= budget) return { transactions: out, nextPosition: encodeCursor(cursor) };
    }
    if (rows.length / 2 < batch) {
      cursor = { bucket: cursor.bucket + 1 };
      batch = q.limit + 16;
    } else if (!progressed) {
      batch *= 2; // a page full of ties already returned: look further
    }
  }
  return { transactions: out, nextPosition: '' };
}
