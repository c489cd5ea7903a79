/**
 * The error hierarchy. This is the only place HTTP status numbers are chosen; `route.ts` turns
 * a DtmError into DTM's body shape `{"dtm_result": …, "message": …}`.
 */

export type ErrorCode =
  'FAILURE' | 'ONGOING' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'NOT_FOUND' | 'TOO_LARGE' | 'INTERNAL' | 'STORE_CONTRACT' | 'STORE_UNAVAILABLE' | 'OVERLOADED';

export class DtmError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DtmError';
  }
  /** DTM's `dtm_result` for this error, if DTM gives one. */
  get dtmResult(): string | undefined {
    if (this.code === 'FAILURE') return 'FAILURE';
    if (this.code === 'ONGOING') return 'ONGOING';
    return undefined;
  }
}

/** 409 FAILURE: a definitive failure or an illegal state, as DTM answers it. */
export class FailureError extends DtmError {
  constructor(message: string) {
    super(message, 'FAILURE', 409);
    this.name = 'FailureError';
  }
}

/** 425 ONGOING: not finished yet, ask again later. */
export class OngoingError extends DtmError {
  constructor(message: string) {
    super(message, 'ONGOING', 425);
    this.name = 'OngoingError';
  }
}

/** 400: input that can never be valid. Messages start with a stable `[DTM_…]` code. */
export class BadRequestError extends DtmError {
  constructor(message: string) {
    super(message, 'BAD_REQUEST', 400);
    this.name = 'BadRequestError';
  }
}

/** 401: a protected endpoint called without a valid token or session (ADMIN_TOKEN, API_TOKEN). */
export class UnauthorizedError extends DtmError {
  constructor(message: string) {
    super(message, 'UNAUTHORIZED', 401);
    this.name = 'UnauthorizedError';
  }
}

/** 404 JSON: a console resource (not a DTM route) that does not exist. */
export class NotFoundError extends DtmError {
  constructor(message: string) {
    super(message, 'NOT_FOUND', 404);
    this.name = 'NotFoundError';
  }
}

/** 413: a body over the configured cap. */
export class PayloadTooLargeError extends DtmError {
  constructor(limit: number) {
    super(`[DTM_BODY_TOO_LARGE] request body exceeds ${limit} bytes`, 'TOO_LARGE', 413);
    this.name = 'PayloadTooLargeError';
  }
}

/** 500 with DTM's message, for the cases where DTM itself answers 500 (unknown gid on abort…). */
export class InternalError extends DtmError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'INTERNAL', 500, options);
    this.name = 'InternalError';
  }
}

/** 500: a Lua `DTM_*` error reply or a reply of the wrong shape, i.e. a bug. */
export class StoreContractError extends DtmError {
  constructor(message: string, options?: ErrorOptions) {
    super(`[DTM_STORE_CONTRACT] ${message}`, 'STORE_CONTRACT', 500, options);
    this.name = 'StoreContractError';
  }
}

/** 503: Redis is down or timed out. The caller may retry; nothing was half-written. */
export class StoreUnavailableError extends DtmError {
  constructor(message: string, options?: ErrorOptions) {
    super(`[DTM_STORE_UNAVAILABLE] ${message}`, 'STORE_UNAVAILABLE', 503, options);
    this.name = 'StoreUnavailableError';
  }
}

/** 503: this process has too many requests in flight. */
export class OverloadedError extends DtmError {
  constructor() {
    super('[DTM_OVERLOADED] too many requests in flight, retry later', 'OVERLOADED', 503);
    this.name = 'OverloadedError';
  }
}

/** Wraps anything thrown into a DtmError, keeping DtmErrors as they are. */
export function toDtmError(err: unknown): DtmError {
  if (err instanceof DtmError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, { cause: err });
}
