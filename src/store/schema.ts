/**
 * The record schema: the short hash field names of a transaction record and of a KV record, and
 * the one-character branch status codes. The Lua side has the same tables in lua/lib/prelude.lua
 * (`F`, `BF`, `KF`, `CODE`); test/lua/contract.ts checks that the two agree and that no script
 * spells a field any other way. Key names are spelled only by keys.ts.
 */
import type { BranchStatus } from '../types.js';

/** Fields of a transaction record HASH (`{p:b}:g:<gid>`). Times are ms, intervals s. */
export const TRANS_FIELD = {
  status: 's',
  transType: 'tt',
  createTime: 'ct',
  updateTime: 'ut',
  /** The next cron time the last round (or creation) chose, before any claim's lease. */
  nextCronTime: 'nct',
  nextCronInterval: 'nci',
  /** msgpack of the immutable request (request-blob.ts). */
  request: 'req',
  branchCount: 'n',
  /** One status code per branch, in list order. */
  branchStatuses: 'bs',
  rollbackReason: 'rr',
  result: 'res',
  finishTime: 'ft',
  rollbackTime: 'rt',
  /** DTM's retry counter for a saga's retry_limit. */
  retryCount: 'rc',
  /** Rounds that ended in a backoff (a failed branch call), for operators. */
  retries: 'nr',
} as const;

/**
 * Per-branch fields of a transaction record: the prefix, then the branch's 1-based index (or,
 * for `registered`, its `branch_id|op`).
 */
export const BRANCH_FIELD = {
  /** msgpack `[branch_id, op, url, data]`. */
  blob: 'b',
  /** When the branch's status last changed. */
  changeTime: 't',
  /** Marks a registered (branch_id, op) pair, for registerBranch's duplicate check. */
  registered: 'u:',
  /** Calls made to the branch, written once one failed (a first-try success stores none). */
  attempts: 'a',
  /** When the branch was last called (ms), written with `attempts`. */
  lastAttemptTime: 'la',
  /** The last failed call's outcome and answer, at most MAX_ERROR_BYTES. */
  lastError: 'e',
} as const;

/** Fields of a KV record HASH (`{p:kv}:r:…`), DTM's KVStore column names. */
export const KV_FIELD = {
  cat: 'cat',
  key: 'k',
  value: 'v',
  version: 'version',
  createTime: 'create_time',
  updateTime: 'update_time',
} as const;

/** One-character codes of branch statuses in the `bs` string. */
export const BRANCH_STATUS_CODE = { prepared: 'p', succeed: 's', failed: 'f' } as const satisfies Record<BranchStatus, string>;

const STATUS_OF_CODE: Readonly<Record<string, BranchStatus>> = Object.fromEntries(
  Object.entries(BRANCH_STATUS_CODE).map(([status, code]) => [code, status as BranchStatus]),
);

/** The branch status of a code, or undefined for a code that is not one. */
export function branchStatusOfCode(code: string): BranchStatus | undefined {
  return STATUS_OF_CODE[code];
}
