/**
 * XA, the global side (dtm-protocol.md §4.6, §3.5): the AP prepares the global transaction and
 * calls each RM's action; the RM runs its local XA transaction, registers itself with the
 * coordinator (`url` = the `phase2_url` it was given) and answers. The coordinator then commits
 * (after submit) or rolls back (after abort) each registered branch.
 *
 * ```ts
 * await xaGlobalTransaction(dtm, gid, async (xa) => {
 *   await xa.callBranch({ amount: 30 }, `${busi}/TransOutXa`);
 *   await xa.callBranch({ amount: 30 }, `${busi}/TransInXa`);
 * });
 * ```
 */
import { createBranchIdGen, type BranchIdGen } from './branch-id.js';
import { errorText } from './errors.js';
import { callBranchUrl, callDtm, type HttpReply } from './http.js';
import { branchTimeoutMs, optionsToWire, type TransOptions } from './options.js';

/** An XA global transaction as the AP sees it. */
export interface Xa {
  readonly server: string;
  readonly gid: string;
  readonly options: Readonly<TransOptions>;
  /**
   * POSTs `body` to the RM's `url` with `dtm, gid, branch_id, trans_type=xa, op=action,
   * phase2_url=url` under the next branch id.
   * @returns the RM's answer (200)
   * @throws FailureError on 409 (or `FAILURE`), OngoingError on 425 (or `ONGOING`),
   *   DtmClientError otherwise
   */
  callBranch(body: unknown, url: string): Promise<HttpReply>;
}

function createXa(server: string, gid: string, ids: BranchIdGen, options: Readonly<TransOptions>): Xa {
  return {
    server,
    gid,
    options,
    async callBranch(body, url) {
      const timeoutMs = branchTimeoutMs(options);
      return callBranchUrl(url, {
        method: 'POST',
        body: body ?? '',
        query: { dtm: server, gid, branch_id: ids.next(), trans_type: 'xa', op: 'action', phase2_url: url },
        ...(options.branchHeaders === undefined ? {} : { headers: options.branchHeaders }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
    },
  };
}

/**
 * Runs an XA global transaction: `prepare`, then `fn(xa)`; if it resolves, `submit` (the
 * coordinator commits every registered branch), else `abort` (it rolls them back) and re-throw.
 * @returns what `fn` returned
 * @throws `fn`'s error (after the abort); a prepare or submit error
 */
export async function xaGlobalTransaction<T>(server: string, gid: string, fn: (xa: Xa) => Promise<T>, options: Readonly<TransOptions> = {}): Promise<T> {
  const base = { gid, trans_type: 'xa', ...optionsToWire(options) };
  await callDtm(server, 'prepare', { body: base });
  let result: T;
  try {
    result = await fn(createXa(server, gid, createBranchIdGen(), options));
  } catch (err) {
    await callDtm(server, 'abort', { body: { ...base, rollback_reason: errorText(err) } }).catch(() => undefined);
    throw err;
  }
  await callDtm(server, 'submit', { body: base });
  return result;
}
