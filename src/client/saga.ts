/**
 * SAGA (dtm-protocol.md §4.4): a list of action/compensate pairs the coordinator drives. Build it,
 * then `submit()`; with `waitResult()` the submit answers with the outcome.
 *
 * ```ts
 * await new Saga(dtm, gid)
 *   .add(`${busi}/TransOut`, `${busi}/TransOutCompensate`, { amount: 30 })
 *   .add(`${busi}/TransIn`, `${busi}/TransInCompensate`, { amount: 30 })
 *   .submit();
 * ```
 */
import { callDtm, encodePayload } from './http.js';
import { optionsToWire, TransOptionsBuilder } from './options.js';

/** One saga step as sent to the coordinator. */
export interface SagaStep {
  readonly action: string;
  readonly compensate: string;
}

/** A saga under construction. `server` is the coordinator's API base, e.g. `http://localhost:36789/api/dtmsvr`. */
export class Saga extends TransOptionsBuilder {
  private readonly steps: SagaStep[] = [];
  private readonly payloads: string[] = [];
  private readonly orders: Record<string, number[]> = {};
  private concurrent = false;

  constructor(
    readonly server: string,
    readonly gid: string,
  ) {
    super();
  }

  /**
   * Appends a step. `payload` is the body of both calls: a string is sent as is, anything else
   * as JSON. An empty URL is never called (and counts as success).
   */
  add(action: string, compensate: string, payload: unknown): this {
    this.steps.push({ action, compensate });
    this.payloads.push(encodePayload(payload));
    return this;
  }

  /**
   * In a concurrent saga, step `branch` (0-based, in `add` order) starts only after the actions of
   * every step in `preBranches` succeeded; its compensation runs before theirs.
   */
  addBranchOrder(branch: number, preBranches: readonly number[]): this {
    this.orders[String(branch)] = [...preBranches];
    return this;
  }

  /** Runs actions in parallel, limited only by `addBranchOrder`. */
  enableConcurrent(): this {
    this.concurrent = true;
    return this;
  }

  /** Retries of a non-successful action before the saga aborts (0 = unlimited). */
  retryLimit(limit: number): this {
    this.options.retryLimit = limit;
    return this;
  }

  /** The request body `submit` sends. */
  toBody(): Record<string, unknown> {
    return {
      gid: this.gid,
      trans_type: 'saga',
      steps: this.steps.map((s) => ({ ...s })),
      payloads: [...this.payloads],
      ...(this.concurrent ? { custom_data: JSON.stringify({ orders: this.orders, concurrent: true }) } : {}),
      ...optionsToWire(this.options),
    };
  }

  /**
   * Submits the saga. Without `waitResult` it resolves once the coordinator stored it.
   * @throws FailureError when the coordinator refuses it, or (with `waitResult`) the saga did
   *   not succeed in-line; DtmClientError on other errors.
   */
  async submit(): Promise<void> {
    await callDtm(this.server, 'submit', { body: this.toBody() });
  }
}
