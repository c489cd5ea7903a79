/**
 * Branch ids for the modes where the client numbers its branches (TCC, XA, workflow), like DTM's
 * `BranchIDGen`: sub-branches of a parent `p` are `p01`, `p02`, … `p99`, so a nested TCC branch of
 * `01` is `0101`.
 */
import { DtmClientError } from './errors.js';

/** Hands out the sub-branch ids of one parent branch. */
export interface BranchIdGen {
  /** The parent id ('' at the top level). */
  readonly parent: string;
  /** The next sub-branch id. @throws DtmClientError past 99 sub-branches or when the parent is 20 characters or longer. */
  next(): string;
  /** The last id handed out (the parent followed by `00` before the first). */
  current(): string;
}

/** A generator of sub-branch ids under `parent`. */
export function createBranchIdGen(parent = ''): BranchIdGen {
  let sub = 0;
  const current = (): string => parent + String(sub).padStart(2, '0');
  return {
    parent,
    next() {
      if (sub >= 99) throw new DtmClientError('branch id is larger than 99');
      if (parent.length >= 20) throw new DtmClientError('total branch id is longer than 20');
      sub += 1;
      return current();
    },
    current,
  };
}
