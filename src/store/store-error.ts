/** How a Redis failure maps onto the error model (DESIGN.md §5), for every store module. */
import { StoreContractError, StoreUnavailableError } from '../errors.js';

/** Server replies that mean "not now" rather than "your script is wrong". */
const TRANSIENT_REPLY = /^(OOM|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS)\b/;

/**
 * Translates a Redis failure: an error reply from the server is a broken contract (a bug), unless
 * it is one of Redis' transient states; anything else (connection refused, timeout, retries
 * exhausted) means Redis is unavailable.
 */
export function storeError(err: unknown, what: string): Error {
  if (err instanceof StoreContractError || err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (isReply && !TRANSIENT_REPLY.test(message)) return new StoreContractError(`${what}: ${message}`, { cause: err });
  return new StoreUnavailableError(`${what}: ${message}`, { cause: err });
}

/** The store's reads that are not scripts (a closed set: it becomes a metrics label). */
export const READS = ['getTrans', 'listTrans', 'backlog', 'ping', 'kvGet', 'kvScan', 'kvFetch'] as const;
export type ReadName = (typeof READS)[number];

/** Told of each failed read, as the script runner's observer is told of each failed script. */
export type ReadFailureObserver = (read: ReadName) => void;

/** storeError for a read: reports the failure to `observe` (for metrics), then maps it. */
export function readFailure(observe: ReadFailureObserver | undefined): (err: unknown, read: ReadName) => Error {
  return (err, read) => {
    observe?.(read);
    return storeError(err, read);
  };
}
