/**
 * TCC (dtm-protocol.md §4.5): the client registers each branch's confirm/cancel URLs and calls
 * its try itself; the coordinator confirms (after submit) or cancels (after abort).
 *
 * ```ts
 * await tccGlobalTransaction(dtm, gid, async (tcc) => {
 *   await tcc.callBranch({ amount: 30 }, `${busi}/TransOutTry`, `${busi}/TransOutConfirm`, `${busi}/TransOutCancel`);
 *   await tcc.callBranch({ amount: 30 }, `${busi}/TransInTry`, `${busi}/TransInConfirm`, `${busi}/TransInCancel`);
 * });
 * ```
 */
import { createBranchIdGen, type BranchIdGen } from './branch-id.js';
import { DtmClientError, errorText } from './errors.js';
import { callBranchUrl, callDtm, encodePayload, type HttpReply } from './http.js';
import { branchTimeoutMs, optionsToWire, type TransOptions } from './options.js';

/** A TCC global transaction as its branches see it. */
export interface Tcc {
  readonly server: string;
  readonly gid: string;
  /** The branch this Tcc nests under ('' for the global transaction itself). */
  readonly parentBranchId: string;
  readonly options: Readonly<TransOptions>;
  /**
   * Registers a branch (confirm/cancel URLs, `body` as its data) under the next branch id, then
   * POSTs `body` to `tryUrl` with `dtm, gid, branch_id, trans_type=tcc, op=try`.
   * @returns the try's answer (200)
   * @throws FailureError when the try answers 409 (or `FAILURE`), OngoingError on 425 (or
   *   `ONGOING`), DtmClientError otherwise; the registration's own error likewise.
   */
  callBranch(body: unknown, tryUrl: string, confirmUrl: string, cancelUrl: string): Promise<HttpReply>;
}

function createTcc(server: string, gid: string, ids: BranchIdGen, options: Readonly<TransOptions>): Tcc {
  return {
    server,
    gid,
    parentBranchId: ids.parent,
    options,
    async callBranch(body, tryUrl, confirmUrl, cancelUrl) {
      const branchId = ids.next();
      const data = encodePayload(body);
      await callDtm(server, 'registerBranch', {
        body: { gid, trans_type: 'tcc', branch_id: branchId, data, confirm: confirmUrl, cancel: cancelUrl },
      });
      const timeoutMs = branchTimeoutMs(options);
      return callBranchUrl(tryUrl, {
        method: 'POST',
        body: data,
        query: { dtm: server, gid, branch_id: branchId, trans_type: 'tcc', op: 'try' },
        ...(options.branchHeaders === undefined ? {} : { headers: options.branchHeaders }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
    },
  };
}

/**
 * Runs a TCC global transaction: `prepare`, then `fn(tcc)`; if it resolves, `submit` (the
 * coordinator confirms every branch), else `abort` with `rollback_reason` = the error's message
 * (the coordinator cancels every branch) and re-throw the error.
 * @returns what `fn` returned
 * @throws `fn`'s error (after the abort); a prepare or submit error; an abort error is dropped in
 *   favour of `fn`'s, as in DTM (the coordinator's timeout aborts it anyway).
 */
export async function tccGlobalTransaction<T>(server: string, gid: string, fn: (tcc: Tcc) => Promise<T>, options: Readonly<TransOptions> = {}): Promise<T> {
  const base = { gid, trans_type: 'tcc', ...optionsToWire(options) };
  await callDtm(server, 'prepare', { body: base });
  let result: T;
  try {
    result = await fn(createTcc(server, gid, createBranchIdGen(), options));
  } catch (err) {
    await callDtm(server, 'abort', { body: { ...base, rollback_reason: errorText(err) } }).catch(() => undefined);
    throw err;
  }
  await callDtm(server, 'submit', { body: base });
  return result;
}

/**
 * The Tcc of an incoming try call, for nested branches: the query carries `dtm`, `gid` and
 * `branch_id`, and sub-branches get ids under it (`01` → `0101`, `0102`, …).
 * @throws DtmClientError when `dtm` or `gid` is missing from the query
 */
export function tccFromQuery(query: URLSearchParams | Readonly<Record<string, string | undefined>>, options: Readonly<TransOptions> = {}): Tcc {
  const get = (k: string): string => (query instanceof URLSearchParams ? query.get(k) : query[k]) ?? '';
  const server = get('dtm');
  const gid = get('gid');
  if (server === '' || gid === '') throw new DtmClientError(`bad tcc info. dtm: ${server}, gid: ${gid} parentID: ${get('branch_id')}`);
  return createTcc(server, gid, createBranchIdGen(get('branch_id')), options);
}
