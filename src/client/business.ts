/**
 * Helpers for business services that the coordinator (or an AP) calls: read the callback's query
 * parameters, and answer with the status and `dtm_result` body DTM expects (dtm-protocol.md §3.4).
 */
import { DtmClientError, errorText, isFailure, isOngoing } from './errors.js';

/** The identity of one branch callback, from its query string. */
export interface BranchCallback {
  readonly gid: string;
  readonly transType: string;
  readonly branchId: string;
  readonly op: string;
  /** The coordinator's API base; sent only on client-originated calls (TCC try, XA action, msg check by the SDK). */
  readonly dtm: string | undefined;
  /** XA action calls only: the URL the RM registers for phase 2. */
  readonly phase2Url: string | undefined;
}

/**
 * Reads `gid`, `trans_type`, `branch_id`, `op` (and `dtm`, `phase2_url` when present) from a
 * callback's query.
 * @throws DtmClientError when one of the four required parameters is missing or empty
 */
export function parseCallback(query: URLSearchParams | Readonly<Record<string, string | undefined>>): BranchCallback {
  const get = (k: string): string | undefined => {
    const v = query instanceof URLSearchParams ? query.get(k) : query[k];
    return v === null || v === undefined || v === '' ? undefined : v;
  };
  const need = (k: string): string => {
    const v = get(k);
    if (v === undefined) throw new DtmClientError(`the callback has no ${k} in its query`);
    return v;
  };
  return { gid: need('gid'), transType: need('trans_type'), branchId: need('branch_id'), op: need('op'), dtm: get('dtm'), phase2Url: get('phase2_url') };
}

/** An HTTP answer for the coordinator. */
export interface HttpAnswer {
  readonly status: 200 | 409 | 425 | 500;
  readonly body: { readonly dtm_result?: 'SUCCESS' | 'FAILURE' | 'ONGOING'; readonly message?: string };
}

/**
 * The answer for a handler's outcome: no error → 200 `SUCCESS`; FailureError → 409 `FAILURE`;
 * OngoingError → 425 `ONGOING`; anything else → 500 with the message and no `dtm_result`, which
 * the coordinator retries with backoff. (As in DTM, a 500 whose text contains `FAILURE` or
 * `ONGOING` is still read as that result by the coordinator.)
 */
export function resultToHttp(err?: unknown): HttpAnswer {
  if (err === undefined || err === null) return { status: 200, body: { dtm_result: 'SUCCESS' } };
  if (isFailure(err)) return { status: 409, body: { dtm_result: 'FAILURE', message: errorText(err) } };
  if (isOngoing(err)) return { status: 425, body: { dtm_result: 'ONGOING', message: errorText(err) } };
  return { status: 500, body: { message: errorText(err) } };
}
