/**
 * The transitions of one transaction record (lua/createTrans.lua, registerBranch.lua,
 * saveProgress.lua, changeStatus.lua, resetNextCron.lua): their inputs, their outcomes, and how
 * each is encoded for and decoded from its script.
 */
import { pack } from '../codec.js';
import type { BranchStatus, Trans, TransRequest, TransStatus, TransType } from '../types.js';
import type { Keys } from './keys.js';
import { asStatus, decodeTrans, flatToRecord } from './replies.js';
import { encodeRequest } from './request-blob.js';
import { BRANCH_STATUS_CODE } from './schema.js';
import { defineScript, type ScriptArg } from './script.js';

/** A branch as created or registered: everything but its status. */
export interface NewBranch {
  branch_id: string;
  op: string;
  url: string;
  /** The payload sent as the request body: text (HTTP) or bytes (gRPC). */
  data: string | Buffer;
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

/** What the calls of one branch came to, written once a call failed (see schema.ts BRANCH_FIELD). */
export interface BranchAttempt {
  /** Index into the branch list (0-based). */
  index: number;
  /** Calls made so far. */
  attempts: number;
  /** ms */
  lastAttemptTime: number;
  /** The last failed call's outcome and answer (at most MAX_ERROR_BYTES), or '' to keep the stored one. */
  lastError: string;
}

/** The longest last error stored per branch. */
export const MAX_ERROR_BYTES = 512;

export interface ProgressInput {
  branchUpdates?: readonly BranchUpdate[];
  attempts?: readonly BranchAttempt[];
  /** ms; leave undefined to keep the schedule. */
  nextCronTime?: number;
  /** s */
  nextCronInterval?: number;
  retryCount?: number;
  /** Rounds that ended in a backoff so far. */
  retries?: number;
}

export interface ChangeStatusInput extends Omit<ProgressInput, 'retries'> {
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

/** A branch's stored blob: msgpack `[branch_id, op, url, data]`. */
function branchBlob(b: NewBranch): Buffer {
  return pack([b.branch_id, b.op, b.url, b.data]);
}

/** Branch updates as ARGV pairs of 1-based index and status code. */
function branchArgs(updates: readonly BranchUpdate[] | undefined): string[] {
  const out: string[] = [];
  for (const [i, st] of updates ?? []) out.push(String(i + 1), BRANCH_STATUS_CODE[st]);
  return out;
}

/** Attempt records as the scripts read them: one msgpack list, or '' for none. */
function attemptsArg(attempts: readonly BranchAttempt[] | undefined): string | Buffer {
  if (attempts === undefined || attempts.length === 0) return '';
  return pack(attempts.map((a) => [a.index + 1, a.attempts, a.lastAttemptTime, a.lastError]));
}

/** An optional number: '' tells the script to leave the field as it is. */
const opt = (v: number | undefined): string => (v === undefined ? '' : String(v));

/** The record keys and the bucket's schedule and index keys of a gid. */
function recordKeys(keys: Keys, gid: string): { trans: string; due: string; idx: string; fin: string; stats: string } {
  const bucket = keys.bucketOf(gid);
  return { trans: keys.trans(gid), due: keys.due(bucket), idx: keys.idx(bucket), fin: keys.fin(bucket), stats: keys.stats(bucket) };
}

function casOutcome(name: string, tag: 'OK' | 'NOT_FOUND' | 'STALE', rest: unknown[]): CasOutcome {
  if (tag === 'STALE') return { tag, current: asStatus(rest[0], `${name} current status`) };
  return { tag };
}

export const createTrans = defineScript({
  name: 'createTrans',
  keys: ['trans', 'due', 'idx', 'fin', 'stats'],
  argv: ['gid', 'status', 'transType', 'now', 'nextCronTime', 'nextCronInterval', 'request', 'mode', '...branchBlobs'],
  replies: ['OK', 'EXISTS', 'PROMOTED'],
  replyMode: 'buffers',
  encode(input: { trans: NewTrans; mode: 'prepare' | 'submit'; now: number }, keys) {
    const t = input.trans;
    const k = recordKeys(keys, t.gid);
    const args: ScriptArg[] = [
      k.trans,
      k.due,
      k.idx,
      k.fin,
      k.stats,
      t.gid,
      t.status,
      t.trans_type,
      input.now,
      t.next_cron_time,
      t.next_cron_interval,
      encodeRequest(t.req),
      input.mode,
    ];
    for (const b of t.branches) args.push(branchBlob(b));
    return args;
  },
  decode(tag, rest, input): CreateOutcome {
    if (tag === 'OK') return { tag };
    // EXISTS and PROMOTED carry the stored record as HGETALL, less the blobs equal to those sent.
    const { fields, elided } = flatToRecord(rest, 'createTrans record');
    const t = input.trans;
    return { tag, trans: decodeTrans(t.gid, fields, undefined, { elided, req: t.req, branches: t.branches }) };
  },
});

export const registerBranch = defineScript({
  name: 'registerBranch',
  keys: ['trans'],
  argv: ['gid', 'now', 'firstKey', '...branches'],
  replies: ['OK', 'NOT_FOUND', 'STALE', 'DUP'],
  replyMode: 'buffers',
  encode(input: { gid: string; branches: readonly [RegisteredBranch, ...RegisteredBranch[]]; now: number }, keys) {
    const first = input.branches[0];
    const args: ScriptArg[] = [keys.trans(input.gid), input.gid, input.now, `${first.branch_id}|${first.op}`];
    for (const b of input.branches) args.push(branchBlob(b), `${b.branch_id}|${b.op}`, BRANCH_STATUS_CODE[b.status]);
    return args;
  },
  decode(tag, rest): RegisterOutcome {
    return tag === 'STALE' ? { tag, current: asStatus(rest[0], 'registerBranch current status') } : { tag };
  },
});

export const saveProgress = defineScript({
  name: 'saveProgress',
  keys: ['trans', 'due'],
  argv: ['gid', 'expectedStatus', 'now', 'nextCronTime', 'nextCronInterval', 'retryCount', 'retries', 'attempts', '...branchUpdates'],
  replies: ['OK', 'NOT_FOUND', 'STALE'],
  replyMode: 'buffers',
  encode(input: { gid: string; expected: TransStatus; progress: ProgressInput; now: number }, keys) {
    const k = recordKeys(keys, input.gid);
    const p = input.progress;
    return [
      k.trans,
      k.due,
      input.gid,
      input.expected,
      input.now,
      opt(p.nextCronTime),
      opt(p.nextCronInterval),
      opt(p.retryCount),
      opt(p.retries),
      attemptsArg(p.attempts),
      ...branchArgs(p.branchUpdates),
    ];
  },
  decode: (tag, rest) => casOutcome('saveProgress', tag, rest),
});

export const changeStatus = defineScript({
  name: 'changeStatus',
  keys: ['trans', 'due', 'fin', 'stats'],
  argv: [
    'gid',
    'expectedStatus',
    'newStatus',
    'now',
    'rollbackReason',
    'finishedDataExpireS',
    'nextCronTime',
    'nextCronInterval',
    'result',
    'expectedType',
    'attempts',
    '...branchUpdates',
  ],
  replies: ['OK', 'NOT_FOUND', 'STALE'],
  replyMode: 'buffers',
  encode(input: { gid: string; expected: TransStatus; next: TransStatus; change: ChangeStatusInput; finishedDataExpireS: number; now: number }, keys) {
    const k = recordKeys(keys, input.gid);
    const c = input.change;
    return [
      k.trans,
      k.due,
      k.fin,
      k.stats,
      input.gid,
      input.expected,
      input.next,
      input.now,
      c.rollbackReason ?? '',
      input.finishedDataExpireS,
      opt(c.nextCronTime),
      opt(c.nextCronInterval),
      c.result ?? '',
      c.expectedType ?? '',
      attemptsArg(c.attempts),
      ...branchArgs(c.branchUpdates),
    ];
  },
  decode: (tag, rest) => casOutcome('changeStatus', tag, rest),
});

export const resetNextCron = defineScript({
  name: 'resetNextCron',
  keys: ['trans', 'due'],
  argv: ['gid', 'now'],
  replies: ['OK', 'NOT_FOUND'],
  replyMode: 'strings',
  encode(input: { gid: string; now: number }, keys) {
    const k = recordKeys(keys, input.gid);
    return [k.trans, k.due, input.gid, input.now];
  },
  decode: (tag): 'OK' | 'NOT_FOUND' => tag,
});
