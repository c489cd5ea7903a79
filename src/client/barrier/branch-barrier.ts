/**
 * The identity of one branch call as a sub-transaction barrier sees it (dtm-protocol.md §7):
 * DTM's query parameters `trans_type`, `gid`, `branch_id`, `op`, plus a per-request counter that
 * numbers the barriers one handler uses (`01`, `02`, …). The store-specific barriers (MySQL,
 * PostgreSQL, Redis) take one of these.
 */

export interface BarrierIdentity {
  readonly transType: string;
  readonly gid: string;
  readonly branchId: string;
  readonly op: string;
}

export interface BranchBarrier extends BarrierIdentity {
  /** The next barrier id of this request: `01`, then `02`, … */
  nextBarrierId(): string;
}

/** The forward op a compensating op undoes: its insert makes null compensation and hanging detectable. */
export const ORIGIN_OP: Readonly<Record<string, string>> = { cancel: 'try', compensate: 'action', rollback: 'action' };

/** Barrier ids `01` … `99` (DTM pads to two digits; a 100th barrier of one request is `100`). */
const BARRIER_IDS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

function need(field: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new Error(`[DTM_BARRIER] missing ${field} for the branch barrier`);
  return v;
}

/** A barrier for one incoming branch call. All four identity fields are required. */
export function createBranchBarrier(id: BarrierIdentity): BranchBarrier {
  // Built field by field (no spread, no entry arrays): a flash sale creates one per buyer.
  const transType = need('transType', id.transType);
  const gid = need('gid', id.gid);
  const branchId = need('branchId', id.branchId);
  const op = need('op', id.op);
  let counter = 0;
  return {
    transType,
    gid,
    branchId,
    op,
    nextBarrierId() {
      counter += 1;
      return BARRIER_IDS[counter] ?? String(counter);
    },
  };
}

/** Builds the barrier from a callback's query (`trans_type`, `gid`, `branch_id`, `op`). */
export function barrierFromQuery(query: URLSearchParams | Readonly<Record<string, string | undefined>>): BranchBarrier {
  const get = (k: string): string => (query instanceof URLSearchParams ? query.get(k) : query[k]) ?? '';
  return createBranchBarrier({ transType: get('trans_type'), gid: get('gid'), branchId: get('branch_id'), op: get('op') });
}

/** The branch id of the msg barrier that DoAndSubmit and `query_prepared` share (§4.7). */
export const MSG_BRANCH_ID = '00';
/** The op of the msg barrier. */
export const MSG_OP = 'msg';
/** The barrier id of the msg barrier, and of the XA action barrier (§7.1): the first of a request. */
export const FIRST_BARRIER_ID = '01';

/**
 * What a barrier did with one call:
 * - `ran`: the business ran (and its effects were committed with the barrier row or key);
 * - `null-compensation`: a compensation arrived before its forward op; the business was skipped;
 * - `duplicate`: a repeat of a call already done, or a forward op arriving after its
 *   compensation (hanging); the business was skipped.
 */
export type BarrierOutcome = 'ran' | 'null-compensation' | 'duplicate';

/** The barrier of a msg's DoAndSubmit for `gid` (trans_type msg, branch `00`, op msg). */
export function msgBarrier(gid: string): BranchBarrier {
  return createBranchBarrier({ transType: 'msg', gid, branchId: MSG_BRANCH_ID, op: MSG_OP });
}
