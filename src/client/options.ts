/**
 * Transaction options shared by every mode, and their wire form (dtm-protocol.md §1.2). Field
 * names on the wire are DTM's snake_case; unset options are left out, as the Go SDK's
 * `omitempty` does.
 */

/** Per-transaction options. Times are in seconds, as on DTM's wire. */
export interface TransOptions {
  /** Process submit/abort in-line and answer with the outcome. @default false */
  waitResult?: boolean;
  /** Seconds after creation before the transaction fails (saga) or aborts (tcc/xa/msg check-back). 0 = the server's default. */
  timeoutToFail?: number;
  /** Base retry interval in seconds. 0 = the server's default. */
  retryInterval?: number;
  /** Per-branch HTTP timeout in seconds, for the coordinator's branch calls and the SDK's own. 0 = the server's default. */
  requestTimeout?: number;
  /** Extra headers the coordinator (and the SDK, on client-originated calls) adds to every branch call. */
  branchHeaders?: Record<string, string>;
  /** Saga: retries of a non-successful action before the saga aborts. 0 = unlimited. */
  retryLimit?: number;
  /** Msg: run the actions in parallel. @default false */
  concurrent?: boolean;
}

/** The wire fields of `options` (only the set ones). */
export function optionsToWire(o: Readonly<TransOptions>): Record<string, unknown> {
  const w: Record<string, unknown> = {};
  if (o.waitResult === true) w['wait_result'] = true;
  if (o.timeoutToFail !== undefined && o.timeoutToFail > 0) w['timeout_to_fail'] = o.timeoutToFail;
  if (o.retryInterval !== undefined && o.retryInterval > 0) w['retry_interval'] = o.retryInterval;
  if (o.requestTimeout !== undefined && o.requestTimeout > 0) w['request_timeout'] = o.requestTimeout;
  if (o.branchHeaders !== undefined && Object.keys(o.branchHeaders).length > 0) w['branch_headers'] = { ...o.branchHeaders };
  if (o.retryLimit !== undefined && o.retryLimit > 0) w['retry_limit'] = o.retryLimit;
  if (o.concurrent === true) w['concurrent'] = true;
  return w;
}

/** The SDK-side HTTP timeout (ms) for client-originated branch calls, from `requestTimeout`. */
export function branchTimeoutMs(o: Readonly<TransOptions>): number | undefined {
  return o.requestTimeout !== undefined && o.requestTimeout > 0 ? o.requestTimeout * 1000 : undefined;
}

/**
 * Fluent setters for {@link TransOptions}, shared by the {@link Saga} and {@link Msg} builders.
 * Subclasses read `this.options` when they build the request body.
 */
export abstract class TransOptionsBuilder {
  /** The options set so far. */
  protected readonly options: TransOptions = {};

  /** Process submit (and abort) in-line and answer with the outcome. */
  waitResult(on = true): this {
    this.options.waitResult = on;
    this.optionsChanged();
    return this;
  }

  /** Seconds after creation before the transaction fails or aborts. */
  timeoutToFail(seconds: number): this {
    this.options.timeoutToFail = seconds;
    this.optionsChanged();
    return this;
  }

  /** Base retry interval, in seconds. */
  retryInterval(seconds: number): this {
    this.options.retryInterval = seconds;
    this.optionsChanged();
    return this;
  }

  /** Per-branch HTTP timeout, in seconds. */
  requestTimeout(seconds: number): this {
    this.options.requestTimeout = seconds;
    this.optionsChanged();
    return this;
  }

  /** Extra headers on every branch call (merged into those set before). */
  branchHeaders(headers: Record<string, string>): this {
    this.options.branchHeaders = { ...this.options.branchHeaders, ...headers };
    this.optionsChanged();
    return this;
  }

  /** Called after every setter: a subclass that caches its encoded request drops the cache here. */
  protected optionsChanged(): void {}

  /** A copy of the options set so far. */
  getOptions(): TransOptions {
    return { ...this.options };
  }
}
