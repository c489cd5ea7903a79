/**
 * The SDK's errors and the mapping of HTTP answers onto them (dtm-protocol.md §1.1, §2).
 *
 * - {@link FailureError}: a definitive failure (HTTP 409, or `FAILURE` in the body). A business
 *   handler throws it to make a saga action, a TCC try or a msg check-back fail for good.
 * - {@link OngoingError}: not finished yet (HTTP 425, or `ONGOING` in a branch's body); DTM retries
 *   at a fixed interval.
 * - {@link DtmClientError}: everything else the SDK reports (transport errors, other statuses).
 *
 * The barriers' own errors (`BarrierFailureError`, named `FailureError`, and `DuplicatedError`)
 * live in `barrier/errors.ts`; `isFailure` recognises them by name.
 */

/** Base class of every error the SDK throws. `status` is the HTTP status that caused it, if any. */
export class DtmClientError extends Error {
  /** The HTTP status of the answer that caused the error; undefined for transport errors. */
  readonly status: number | undefined;
  /** The raw body of that answer, if any. */
  readonly body: string | undefined;

  constructor(message: string, options: { status?: number; body?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DtmClientError';
    this.status = options.status;
    this.body = options.body;
  }
}

/** A definitive failure: 409 / `FAILURE`. Business handlers throw it to fail a branch for good. */
export class FailureError extends DtmClientError {
  constructor(message = 'FAILURE', options: { body?: string; cause?: unknown } = {}) {
    super(message, { ...options, status: 409 });
    this.name = 'FailureError';
  }
}

/** Not finished yet: 425 / `ONGOING`. DTM calls the branch again after its retry interval. */
export class OngoingError extends DtmClientError {
  constructor(message = 'ONGOING', options: { body?: string; cause?: unknown } = {}) {
    super(message, { ...options, status: 425 });
    this.name = 'OngoingError';
  }
}

/** True for a {@link FailureError} (also across copies of the SDK, by name). */
export function isFailure(err: unknown): err is FailureError {
  return err instanceof FailureError || (err instanceof Error && err.name === 'FailureError');
}

/** True for an {@link OngoingError} (also across copies of the SDK, by name). */
export function isOngoing(err: unknown): err is OngoingError {
  return err instanceof OngoingError || (err instanceof Error && err.name === 'OngoingError');
}

/** A short text for an error of any kind, used as `rollback_reason` and in recorded progress. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
}

function messageOf(status: number, body: string): string {
  const trimmed = body.length > 500 ? `${body.slice(0, 500)}…` : body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object') {
      const m = (parsed as Record<string, unknown>)['message'] ?? (parsed as Record<string, unknown>)['error'];
      if (typeof m === 'string' && m !== '') return m;
    }
  } catch {
    // not JSON: report the text itself
  }
  return trimmed === '' ? `HTTP ${status}` : trimmed;
}

/**
 * Maps a coordinator answer as DTM's SDKs do: anything but 200, or a body containing `FAILURE`,
 * is an error. 409 or `FAILURE` → {@link FailureError}; 425 → {@link OngoingError}; any other
 * status → {@link DtmClientError}. Returns undefined for a success.
 */
export function dtmResponseError(status: number, body: string): DtmClientError | undefined {
  if (status === 409 || body.includes('FAILURE')) return new FailureError(messageOf(status, body), { body });
  if (status === 425) return new OngoingError(messageOf(status, body), { body });
  if (status !== 200) return new DtmClientError(messageOf(status, body), { status, body });
  return undefined;
}

/**
 * Maps a business service's answer the way the coordinator classifies branch results (§2):
 * 425 or `ONGOING` in the body → {@link OngoingError}; 409 or `FAILURE` → {@link FailureError};
 * any other status than 200 → {@link DtmClientError}. Returns undefined for a success.
 */
export function branchResponseError(status: number, body: string): DtmClientError | undefined {
  if (status === 425 || body.includes('ONGOING')) return new OngoingError(messageOf(status, body), { body });
  if (status === 409 || body.includes('FAILURE')) return new FailureError(messageOf(status, body), { body });
  if (status !== 200) return new DtmClientError(messageOf(status, body), { status, body });
  return undefined;
}
