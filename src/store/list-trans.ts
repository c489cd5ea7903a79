/**
 * DTM's `/all` listing without SCAN: a walk over the buckets' listing indexes (`{p:b}:idx`, gid →
 * create time), newest first within a bucket, resumable from a position that names the last row
 * returned.
 */
import { BadRequestError } from '../errors.js';
import type { Trans } from '../types.js';
import type { Keys } from './keys.js';
import type { RedisClient } from './redis.js';
import { storeError, type ReadName } from './store-error.js';

export interface ListQuery {
  position: string;
  limit: number;
  status?: string;
  transType?: string;
  /** Only gids starting with this (the console's filter); checked on the index entry, before the record is read. */
  gidPrefix?: string;
  /** ms, exclusive bounds on create time */
  createTimeStart?: number;
  createTimeEnd?: number;
}

export interface ListPage {
  transactions: Trans[];
  /** '' once every bucket is done. */
  nextPosition: string;
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
 * SCAN-based listing does). `next_position` is '' once every bucket is done. A failed read is
 * mapped (and reported) by `failed`.
 */
export async function listTransactions(
  redis: RedisClient,
  keys: Keys,
  getTrans: (gid: string) => Promise<Trans | undefined>,
  q: ListQuery,
  failed: (err: unknown, read: ReadName) => Error = storeError,
): Promise<ListPage> {
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
      throw failed(err, 'listTrans');
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
      // A gid that does not match costs no read, but counts against the same budget.
      const t = q.gidPrefix === undefined || gid.startsWith(q.gidPrefix) ? await getTrans(gid) : undefined;
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
