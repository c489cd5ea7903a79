/**
 * Reply tags and decoders. Script replies arrive as `unknown` (Buffers, with ioredis's Buffer
 * command variants) and are narrowed here once; a reply of the wrong shape is a broken contract.
 */
import { unpack } from '../codec.js';
import { StoreContractError } from '../errors.js';
import { isTransType, TransStatus, type Branch, type Trans, type TransRequest } from '../types.js';
import { decodeRequest } from './request-blob.js';
import { BRANCH_FIELD, branchStatusOfCode, TRANS_FIELD as F } from './schema.js';

export const ReplyTag = { OK: 'OK', EXISTS: 'EXISTS', PROMOTED: 'PROMOTED', NOT_FOUND: 'NOT_FOUND', STALE: 'STALE', DUP: 'DUP' } as const;
export type ReplyTag = (typeof ReplyTag)[keyof typeof ReplyTag];

const TAGS = new Set<string>(Object.values(ReplyTag));
const STATUSES = new Set<string>(Object.values(TransStatus));

function text(v: unknown, what: string): string {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new StoreContractError(`${what}: expected a string, got ${typeof v}`);
}

/** Splits a script reply into its tag and payload. */
export function splitReply(reply: unknown, script: string): { tag: ReplyTag; rest: unknown[] } {
  if (!Array.isArray(reply) || reply.length === 0) throw new StoreContractError(`${script}: reply is not a tagged array`);
  const tag = text(reply[0], `${script} tag`);
  if (!TAGS.has(tag)) throw new StoreContractError(`${script}: unknown reply tag ${tag}`);
  return { tag: tag as ReplyTag, rest: reply.slice(1) };
}

/** Narrows a status string read from Redis. */
export function asStatus(v: unknown, what: string): TransStatus {
  const s = text(v, what);
  if (!STATUSES.has(s)) throw new StoreContractError(`${what}: unknown status ${s}`);
  return s as TransStatus;
}

export function asText(v: unknown, what: string): string {
  return text(v, what);
}

export function asInt(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  const n = Number(text(v, what));
  if (!Number.isFinite(n)) throw new StoreContractError(`${what}: not a number`);
  return n;
}

/** Turns a flat HGETALL array [field, value, …] into a map of Buffers. */
export function flatToMap(flat: readonly unknown[], what: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const v = flat[i + 1];
    out.set(text(flat[i], what), Buffer.isBuffer(v) ? v : Buffer.from(text(v, what)));
  }
  return out;
}

/**
 * A stored record in which blobs equal to what the caller sent came back as nil (createTrans's
 * PROMOTED and EXISTS): the fields as Buffers, and the names of those left out.
 */
export function flatToRecord(flat: readonly unknown[], what: string): { fields: Map<string, Buffer>; elided: Set<string> } {
  const fields = new Map<string, Buffer>();
  const elided = new Set<string>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = text(flat[i], what);
    const v = flat[i + 1];
    if (v === null) elided.add(name);
    else fields.set(name, Buffer.isBuffer(v) ? v : Buffer.from(text(v, what)));
  }
  return { fields, elided };
}

/** The blobs a createTrans call sent, standing in for the stored ones its reply left out as equal. */
export interface SentBlobs {
  /** Field names whose stored value equals the one sent (see flatToRecord). */
  elided: ReadonlySet<string>;
  /** The request the call sent (stored as F.request). */
  req: TransRequest;
  /** The branches the call sent, in list order (branch i stored as BRANCH_FIELD.blob + i). */
  branches: readonly { branch_id: string; op: string; url: string; data: string | Buffer }[];
}

function required(m: Map<string, Buffer>, field: string, gid: string): Buffer {
  const v = m.get(field);
  if (v === undefined) throw new StoreContractError(`trans ${gid}: missing ${field}`);
  return v;
}

function optionalTime(m: Map<string, Buffer>, field: string): number | undefined {
  const v = m.get(field);
  return v === undefined ? undefined : Number(v.toString());
}

/**
 * Decodes a stored transaction record (the HASH as a field → Buffer map).
 * @param score the schedule score when the transaction is scheduled; it wins over `nct`.
 * @param sent what a createTrans call sent, for the blobs its reply left out as equal to it.
 */
export function decodeTrans(gid: string, m: Map<string, Buffer>, score?: number, sent?: SentBlobs): Trans {
  try {
    return decodeRecord(gid, m, score, sent);
  } catch (err) {
    if (err instanceof StoreContractError) throw err;
    // msgpackr's own errors on a corrupt blob
    throw new StoreContractError(`trans ${gid}: corrupt record: ${(err as Error).message}`, { cause: err });
  }
}

/** Branch `i` (1-based) as stored: its blob decoded, or the one sent when the reply left it out as equal. */
function branchFields(
  gid: string,
  m: Map<string, Buffer>,
  i: number,
  sent: SentBlobs | undefined,
): { id: string; op: string; url: string; data: string | Buffer } {
  const field = `${BRANCH_FIELD.blob}${i}`;
  const blob = m.get(field);
  if (blob === undefined) {
    const same = sent?.elided.has(field) === true ? sent.branches[i - 1] : undefined;
    if (same === undefined) throw new StoreContractError(`trans ${gid}: missing branch ${i}`);
    return { id: same.branch_id, op: same.op, url: same.url, data: same.data };
  }
  const b = unpack(blob);
  if (!Array.isArray(b) || b.length < 4) throw new StoreContractError(`trans ${gid}: bad branch blob ${i}`);
  return { id: String(b[0]), op: String(b[1]), url: String(b[2]), data: branchData(b[3]) };
}

/** The stored request: its blob decoded, or the one sent when the reply left it out as equal. */
function requestOf(gid: string, m: Map<string, Buffer>, sent: SentBlobs | undefined): TransRequest {
  if (!m.has(F.request) && sent?.elided.has(F.request) === true) return sent.req;
  return decodeRequest(required(m, F.request, gid), gid);
}

function decodeRecord(gid: string, m: Map<string, Buffer>, score: number | undefined, sent: SentBlobs | undefined): Trans {
  const get = (f: string): string | undefined => m.get(f)?.toString();
  const status = asStatus(get(F.status), `trans ${gid} status`);
  const transType = get(F.transType) ?? '';
  if (!isTransType(transType)) throw new StoreContractError(`trans ${gid}: unknown trans_type ${transType}`);
  const statusString = get(F.branchStatuses) ?? '';
  const count = Number(get(F.branchCount) ?? '0');
  if (statusString.length !== count) throw new StoreContractError(`trans ${gid}: ${count} branches but status string ${statusString}`);
  const createTime = Number(get(F.createTime));
  const branches: Branch[] = [];
  for (let i = 1; i <= count; i++) {
    const b = branchFields(gid, m, i, sent);
    const st = branchStatusOfCode(statusString[i - 1]!);
    if (st === undefined) throw new StoreContractError(`trans ${gid}: bad branch status code ${statusString[i - 1]}`);
    const url = b.url;
    const finishTime = optionalTime(m, `${BRANCH_FIELD.changeTime}${i}`);
    // Attempts are stored once a call failed; a branch the coordinator called and finished on the
    // first try has none, nor one it never called (an empty URL, a workflow's recorded step).
    const stored = optionalTime(m, `${BRANCH_FIELD.attempts}${i}`);
    const firstTry = stored === undefined && url !== '' && st !== 'prepared';
    branches.push({
      branch_id: b.id,
      op: b.op,
      url,
      data: b.data,
      status: st,
      finish_time: finishTime,
      attempts: stored ?? (firstTry ? 1 : 0),
      last_attempt_time: optionalTime(m, `${BRANCH_FIELD.lastAttemptTime}${i}`) ?? (firstTry ? finishTime : undefined),
      last_error: m.get(`${BRANCH_FIELD.lastError}${i}`)?.toString() ?? '',
    });
  }
  return {
    gid,
    trans_type: transType,
    status,
    create_time: createTime,
    update_time: Number(get(F.updateTime) ?? createTime),
    finish_time: optionalTime(m, F.finishTime),
    rollback_time: optionalTime(m, F.rollbackTime),
    next_cron_time: score ?? optionalTime(m, F.nextCronTime),
    scheduled_time: optionalTime(m, F.nextCronTime),
    next_cron_interval: Number(get(F.nextCronInterval) ?? '0'),
    rollback_reason: get(F.rollbackReason) ?? '',
    retry_count: Number(get(F.retryCount) ?? '0'),
    retries: Number(get(F.retries) ?? '0'),
    result: get(F.result) ?? '',
    req: requestOf(gid, m, sent),
    branches,
  };
}

/** A branch payload as stored: msgpack str (HTTP's JSON text) or bin (gRPC's bytes, kept exact). */
function branchData(v: unknown): string | Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return String(v);
}
