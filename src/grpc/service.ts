/**
 * What the gRPC front needs from the coordinator: the HTTP API's operations, transport-neutral.
 * The gRPC adapter (server.ts) turns each RPC into one of these calls with the same plain body an
 * HTTP JSON request would carry (convert.ts), so both front doors share one implementation.
 * Errors are thrown as DtmErrors (src/errors.ts); convert.ts maps them to gRPC statuses.
 */

/** One stored transaction as `prepareWorkflow` returns it (dtm-protocol.md §1.4.7). */
export interface WorkflowTransaction {
  gid: string;
  status: string;
  rollback_reason: string;
  /** The stored result (base64 text), or empty. DTM v1.19 leaves it empty on gRPC. */
  result?: string;
}

/** One recorded workflow step: the branch as `prepareWorkflow` returns it, its data as bytes. */
export interface WorkflowProgress {
  status: string;
  /** The branch's data byte-exact (proto bytes of a step's reply, or the error text). */
  bin_data: Buffer;
  branch_id: string;
  op: string;
}

export interface WorkflowState {
  transaction: WorkflowTransaction;
  /** Every stored branch, in order; empty for a new workflow. */
  progresses: WorkflowProgress[];
}

/**
 * The coordinator's operations behind the gRPC API. A `body` is the plain object an HTTP JSON body
 * would be (dtm-protocol.md §1.2), built by convert.ts's `transBody`: snake_case keys, proto3 zero
 * values left out, `protocol: "grpc"`, `steps` parsed from the JSON text, and `payloads` as
 * Buffers (byte-exact) where HTTP has strings.
 */
export interface DtmService {
  /** A new gid (DTM's 22-character shortuuid). */
  newGid(): string;
  /** HTTP `/prepare` (msg, tcc, xa). */
  prepare(body: unknown): Promise<void>;
  /** HTTP `/submit`, wait_result included; for trans_type workflow, the finish with `req_extra`. */
  submit(body: unknown): Promise<void>;
  /** HTTP `/abort`, with `rollback_reason` when the client gave one. */
  abort(body: unknown): Promise<void>;
  /**
   * HTTP `/registerBranch`. `fields` are the body's strings: the request's `Data` map (tcc
   * `confirm`/`cancel`, xa `url`, workflow `status`/`op`) with `gid`, `trans_type` and `branch_id`
   * set from the request itself. `payload` is the branch data as bytes: always defined on gRPC
   * (possibly empty), so `fields` carries no `data`; `undefined` is for a caller whose data is
   * `fields.data` (HTTP).
   */
  registerBranch(fields: Record<string, string>, payload: Buffer | undefined): Promise<void>;
  /** HTTP `/prepareWorkflow`: creates the workflow as prepared, or returns its stored state. */
  prepareWorkflow(body: unknown): Promise<WorkflowState>;
  /** HTTP `/subscribe`. */
  subscribe(topic: string, url: string, remark: string): Promise<void>;
  /** HTTP `/unsubscribe`. */
  unsubscribe(topic: string, url: string): Promise<void>;
  /** HTTP `DELETE /topic/:name`. */
  deleteTopic(topic: string): Promise<void>;
}
