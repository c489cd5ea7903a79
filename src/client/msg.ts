/**
 * The 2-phase message (dtm-protocol.md §4.7): actions the coordinator calls once the local
 * business committed. Either `prepare` + `submit` by hand, or `doAndSubmit`, which runs the
 * business between the two and asks the check-back URL when the outcome is unclear.
 *
 * ```ts
 * await new Msg(dtm, gid)
 *   .add(`${busi}/TransIn`, { amount: 30 })
 *   .doAndSubmitDB(`${busi}/QueryPrepared`, (barrier) => callMysql(barrier, pool, transOut));
 * ```
 */
import { MSG_BRANCH_ID, MSG_OP, msgBarrier, type BranchBarrier } from './barrier/branch-barrier.js';
import { isFailure } from './errors.js';
import { callBranchUrl, callDtm, encodePayload } from './http.js';
import { branchTimeoutMs, optionsToWire, TransOptionsBuilder } from './options.js';

/** Prefix of a step's action that names a topic instead of a URL. */
export const MSG_TOPIC_PREFIX = 'topic://';

/**
 * The business of a `doAndSubmit`, given the msg barrier (`msg`, gid, `00`, `msg`). What it
 * resolves to is ignored, so a barrier call can be passed as it is.
 */
export type MsgBusiCall = (barrier: BranchBarrier) => Promise<unknown>;

/** A 2-phase message under construction. `server` is the coordinator's API base. */
export class Msg extends TransOptionsBuilder {
  private readonly steps: { action: string }[] = [];
  private readonly payloads: string[] = [];
  private delaySeconds = 0;
  private queryPrepared = '';
  /** The JSON of {@link toBody}, shared by `prepare` and `submit` until the message changes. */
  private encoded: string | undefined;

  constructor(
    readonly server: string,
    readonly gid: string,
  ) {
    super();
  }

  /** Appends an action; `payload` is its body (a string as is, anything else as JSON). */
  add(action: string, payload: unknown): this {
    this.steps.push({ action });
    this.payloads.push(encodePayload(payload));
    this.encoded = undefined;
    return this;
  }

  /** Appends an action delivered to every subscriber of `topic`. */
  addTopic(topic: string, payload: unknown): this {
    return this.add(MSG_TOPIC_PREFIX + topic, payload);
  }

  /** Delays the actions by `seconds` after the message is created. */
  delay(seconds: number): this {
    this.delaySeconds = seconds;
    this.encoded = undefined;
    return this;
  }

  /** Calls the actions in parallel. */
  enableConcurrent(): this {
    this.options.concurrent = true;
    this.encoded = undefined;
    return this;
  }

  protected override optionsChanged(): void {
    this.encoded = undefined;
  }

  /** The request body of `prepare`/`submit`. */
  toBody(): Record<string, unknown> {
    return {
      gid: this.gid,
      trans_type: 'msg',
      steps: this.steps.map((s) => ({ ...s })),
      payloads: [...this.payloads],
      ...(this.queryPrepared === '' ? {} : { query_prepared: this.queryPrepared }),
      ...(this.delaySeconds > 0 ? { custom_data: JSON.stringify({ delay: this.delaySeconds }) } : {}),
      ...optionsToWire(this.options),
    };
  }

  /** {@link toBody} as JSON, encoded once for the prepare and the submit of one message. */
  private wireBody(): string {
    return (this.encoded ??= JSON.stringify(this.toBody()));
  }

  /**
   * Registers the message as prepared. If it is still prepared when it times out, the
   * coordinator asks `queryPrepared` (GET, `op=msg`, `branch_id=00`) whether to submit it.
   */
  async prepare(queryPrepared: string): Promise<void> {
    if (queryPrepared !== '' && queryPrepared !== this.queryPrepared) {
      this.queryPrepared = queryPrepared;
      this.encoded = undefined;
    }
    await callDtm(this.server, 'prepare', { body: this.wireBody() });
  }

  /** Submits the message (prepared or not); the coordinator then calls every action until it succeeds. */
  async submit(): Promise<void> {
    await callDtm(this.server, 'submit', { body: this.wireBody() });
  }

  /** Aborts a prepared message: it becomes `failed` and no action is called. */
  async abort(): Promise<void> {
    await callDtm(this.server, 'abort', { body: `{"gid":${JSON.stringify(this.gid)},"trans_type":"msg"}` });
  }

  /**
   * Prepare, run the business, then submit or abort, as DTM's `DoAndSubmit`:
   * - the business succeeds → submit;
   * - it throws a FailureError → abort;
   * - it throws anything else → ask `queryPrepared` directly: FAILURE → abort, success → submit,
   *   anything else → leave the message prepared for the coordinator's check-back.
   *
   * The business gets the msg barrier (`msg`, gid, `00`, `msg`), so a store barrier can record the
   * local commit that `queryPrepared` later looks for.
   * @throws the business error, if any (after the submit or abort); otherwise the prepare,
   *   check-back or submit error.
   */
  async doAndSubmit(queryPrepared: string, busiCall: MsgBusiCall): Promise<void> {
    const barrier = msgBarrier(this.gid);
    await this.prepare(queryPrepared);
    try {
      await busiCall(barrier);
    } catch (busiErr) {
      let decided: 'abort' | 'submit' | 'leave' = 'abort';
      if (!isFailure(busiErr)) {
        decided = await this.checkPrepared().then(
          () => 'submit' as const,
          (checkErr: unknown) => (isFailure(checkErr) ? ('abort' as const) : ('leave' as const)),
        );
      }
      // As in DTM, the business error is what the caller sees, and the abort's or submit's own
      // error is dropped: the coordinator's check-back settles a message left prepared.
      if (decided === 'abort') await this.abort().catch(() => undefined);
      else if (decided === 'submit') await this.submit().catch(() => undefined);
      throw busiErr;
    }
    await this.submit();
  }

  /** Asks `queryPrepared` directly, as the coordinator's check-back would (GET, `branch_id=00`, `op=msg`). */
  private async checkPrepared(): Promise<void> {
    await callBranchUrl(this.queryPrepared, {
      method: 'GET',
      query: { dtm: this.server, gid: this.gid, branch_id: MSG_BRANCH_ID, trans_type: 'msg', op: MSG_OP },
      ...(this.options.branchHeaders === undefined ? {} : { headers: this.options.branchHeaders }),
      ...optionalTimeout(branchTimeoutMs(this.options)),
    });
  }

  /**
   * `doAndSubmit` where the business runs inside a store barrier: `runInBarrier` opens the local
   * transaction, inserts the msg barrier row and runs the business in it (e.g.
   * `(b) => callMysql(b, pool, busi)`), so that `queryPrepared` answered by the same store's
   * `queryPrepared` helper tells a committed business from a rolled-back one.
   */
  async doAndSubmitDB(queryPrepared: string, runInBarrier: MsgBusiCall): Promise<void> {
    return this.doAndSubmit(queryPrepared, runInBarrier);
  }
}

function optionalTimeout(ms: number | undefined): { timeoutMs?: number } {
  return ms === undefined ? {} : { timeoutMs: ms };
}
