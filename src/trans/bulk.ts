/**
 * Bulk force-stop and retry over a listing filter, one bounded batch at a time. The caller (the
 * console) drives the run: each batch walks the listing from a position with the service's own
 * `list`, acts on at most `limit` transactions through the service's `forceStop` or
 * `resetNextCronTime`, one at a time with a turn of the event loop between them, and returns the
 * position to continue from. No batch holds Redis or the event loop for long, a run over a
 * million transactions is a few thousand short requests, and a run stopped by a reload resumes
 * from its last position.
 */
import { toDtmError } from '../errors.js';
import type { ListQuery } from '../store/list-trans.js';
import { isFinal, type Trans } from '../types.js';
import type { DtmService } from './service.js';

export type BulkOp = 'force-stop' | 'retry';

/** The most transactions one batch acts on. */
export const MAX_BULK_BATCH = 500;
/** Failures a batch reports by gid; the rest are only counted. */
const MAX_REPORTED_ERRORS = 10;

export interface BulkBatchResult {
  /** Acted on. */
  done: number;
  /** Already finished: there is nothing to stop or retry. */
  skipped: number;
  failed: number;
  errors: { gid: string; error: string }[];
  /** Where the next batch starts; '' when the walk is over. */
  nextPosition: string;
}

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One batch: the next page of `filter` from `position` (at most `limit` rows, and the listing's
 * own bound on records examined), each unfinished one acted on in turn.
 */
export async function runBulkBatch(
  service: DtmService,
  op: BulkOp,
  filter: Omit<ListQuery, 'position' | 'limit'>,
  position: string,
  limit: number,
): Promise<BulkBatchResult> {
  const page = await service.list({ ...filter, position, limit: Math.min(Math.max(1, limit), MAX_BULK_BATCH) });
  const act = (t: Trans): Promise<void> => (op === 'force-stop' ? service.forceStop(t.gid) : service.resetNextCronTime(t.gid));
  const result: BulkBatchResult = { done: 0, skipped: 0, failed: 0, errors: [], nextPosition: page.nextPosition };
  for (const t of page.transactions) {
    if (isFinal(t.status)) {
      result.skipped++;
      continue;
    }
    try {
      await act(t);
      result.done++;
    } catch (err) {
      // Finished meanwhile, or gone: reported, and the run goes on.
      result.failed++;
      if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push({ gid: t.gid, error: toDtmError(err).message });
    }
    await yieldTurn();
  }
  return result;
}
