/**
 * Errors of the branch barriers (dtm-protocol.md §7). They are recognised by `name`, the way the
 * rest of the SDK recognises its errors, so a business service maps them without importing this
 * file: `FailureError` → HTTP 409 `{"dtm_result":"FAILURE"}` (a definitive failure: the
 * coordinator fails a saga action or a msg check-back, or rolls back a TCC/XA transaction);
 * `DuplicatedError` never goes on the wire (DoAndSubmit asks `query_prepared` instead).
 */

/**
 * A definitive failure found by a barrier: the Redis amount would go below zero (or its key is
 * missing), a msg check-back found the local transaction rolled back, or an XA branch found its
 * rollback already recorded. `name` is `FailureError` and `status` 409, like the SDK's own
 * FailureError, so handlers that map errors by name or status answer 409 FAILURE.
 */
export class BarrierFailureError extends Error {
  /** The HTTP status a business service answers with. */
  readonly status = 409;
  /** DTM's `dtm_result`. */
  readonly dtmResult = 'FAILURE';

  constructor(message = 'FAILURE', options?: ErrorOptions) {
    super(message, options);
    this.name = 'FailureError';
  }

  /**
   * An instance without a stack trace, for domain outcomes on hot paths (a sold-out flash sale
   * answers most of its buyers with it); capturing the stack is most of an Error's cost.
   */
  static outcome(message: string): BarrierFailureError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new BarrierFailureError(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/**
 * The msg barrier (op `msg`, branch `00`) found its row or key already there: the business of a
 * DoAndSubmit ran before, or the check-back (`query_prepared`) got there first and recorded a
 * rollback. Not a failure by itself: DoAndSubmit then asks `query_prepared` for the outcome.
 * DTM's `ErrDuplicated`.
 */
export class DuplicatedError extends Error {
  /** Not an HTTP answer: a business service that lets it escape answers 500 (DTM retries). */
  readonly status: number | undefined = undefined;

  constructor(message = 'DUPLICATED', options?: ErrorOptions) {
    super(message, options);
    this.name = 'DuplicatedError';
  }
}

/** True for a barrier (or SDK) failure, by name, across copies of the SDK. */
export function isBarrierFailure(err: unknown): boolean {
  return err instanceof Error && err.name === 'FailureError';
}

/** True for a {@link DuplicatedError}, by name. */
export function isDuplicated(err: unknown): boolean {
  return err instanceof Error && err.name === 'DuplicatedError';
}
