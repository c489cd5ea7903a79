/**
 * The failed-branch log line (one per failed call, at warn, as DTM logs at error), rate-limited
 * per transaction: attempts 1 to 5, then every power of two, so a branch retried for days (an
 * ONGOING answer keeps its interval) cannot flood the log.
 */
import type { Logger } from '../log.js';
import type { Trans } from '../types.js';
import type { BranchOutcome } from './branch-call.js';

/** The longest answer or error quoted in a log line. */
const MAX_DETAIL = 300;

/** True for the attempt numbers that are logged. */
export function isLoggedAttempt(attempt: number): boolean {
  return attempt <= 5 || (attempt & (attempt - 1)) === 0;
}

/** Shortens an answer for a log line or the stored last error, keeping whole characters. */
function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut) > maxBytes - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** A failed call as one line of text: its outcome, HTTP status and answer. */
export function describeFailure(o: BranchOutcome, maxBytes: number): string {
  const status = o.status === 0 ? 'no response' : `HTTP ${o.status}`;
  return truncate(`${o.result} (${status}): ${o.detail}`, maxBytes);
}

export interface FailedCall {
  branchId: string;
  op: string;
  url: string;
  outcome: BranchOutcome;
  /** The call's number among the calls made to this branch (1 for the first). */
  attempt: number;
}

/** Logs the round's failed calls once the round knows what comes next. */
export function logFailedCalls(log: Logger, trans: Trans, failed: readonly FailedCall[], next: { retryAt: number | undefined; status: string }): void {
  for (const f of failed) {
    if (!isLoggedAttempt(f.attempt)) continue;
    log.warn(
      {
        gid: trans.gid,
        trans_type: trans.trans_type,
        branch_id: f.branchId,
        op: f.op,
        url: f.url,
        outcome: f.outcome.result,
        status_code: f.outcome.status,
        detail: truncate(f.outcome.detail, MAX_DETAIL),
        attempt: f.attempt,
        next_retry: next.retryAt === undefined ? null : new Date(next.retryAt).toISOString(),
        trans_status: next.status,
      },
      'branch call failed',
    );
  }
}
