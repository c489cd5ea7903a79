/**
 * The gRPC API's two translations (dtm-grpc.md §3): a decoded request message into the plain body
 * the HTTP API would have received, and an error into a gRPC status. Pure functions, no I/O.
 */
import { status } from '@grpc/grpc-js';
import { BadRequestError, DtmError } from '../errors.js';
import type { WorkflowState } from './service.js';

/** `DtmTransOptions` as decoded: every field optional (proto3 zero = absent), int64 in any JS form. */
export interface DtmTransOptionsMessage {
  WaitResult?: boolean;
  TimeoutToFail?: unknown;
  RetryInterval?: unknown;
  BranchHeaders?: Record<string, string>;
  RequestTimeout?: unknown;
  RetryLimit?: unknown;
}

/** `DtmRequest` as decoded. */
export interface DtmRequestMessage {
  Gid?: string;
  TransType?: string;
  TransOptions?: DtmTransOptionsMessage | null;
  CustomedData?: string;
  BinPayloads?: Uint8Array[];
  QueryPrepared?: string;
  Steps?: string;
  ReqExtra?: Record<string, string>;
  RollbackReason?: string;
}

/** `DtmBranchRequest` as decoded. */
export interface DtmBranchRequestMessage {
  Gid?: string;
  TransType?: string;
  BranchID?: string;
  Op?: string;
  Data?: Record<string, string>;
  BusiPayload?: Uint8Array;
}

/** `DtmTopicRequest` as decoded. */
export interface DtmTopicRequestMessage {
  Topic?: string;
  URL?: string;
  Remark?: string;
}

/** `DtmProgressesReply` to encode. */
export interface DtmProgressesReplyMessage {
  Transaction: { Gid: string; Status: string; RollbackReason: string; Result: string };
  Progresses: { Status: string; BinData: Buffer; BranchID: string; Op: string }[];
}

/**
 * The HTTP body a `DtmRequest` stands for (dtm-protocol.md §1.2). Fields the client left at their
 * proto3 zero are absent, exactly as omitted JSON fields are.
 */
export interface GrpcTransBody {
  gid?: string;
  trans_type?: string;
  /** Always "grpc": branch URLs of a transaction created over gRPC are called over gRPC (§4.1). */
  protocol: 'grpc';
  wait_result?: true;
  timeout_to_fail?: number;
  retry_interval?: number;
  request_timeout?: number;
  retry_limit?: number;
  branch_headers?: Record<string, string>;
  custom_data?: string;
  /** One per step, byte-exact: HTTP's payload strings, as bytes. */
  payloads?: Buffer[];
  query_prepared?: string;
  /** `Steps` parsed from its JSON text (an array of string maps, if the client is right). */
  steps?: unknown;
  req_extra?: Record<string, string>;
  rollback_reason?: string;
}

/**
 * An int64 field as a number, however the loader delivered it: number, bigint, decimal string or
 * a `Long`. Values are seconds and counts; precision beyond 2^53 is not a concern.
 */
function int64(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  if (v !== null && typeof v === 'object' && typeof (v as { toNumber?: unknown }).toNumber === 'function') {
    return (v as { toNumber(): number }).toNumber();
  }
  return 0;
}

/** A Buffer view of decoded bytes, without a copy when it already is one. */
function bytes(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function nonEmptyMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  return m !== undefined && m !== null && Object.keys(m).length > 0 ? { ...m } : undefined;
}

/**
 * `Steps` is JSON text; the SDKs send the literal `null` for tcc/xa/workflow, and `""` means none.
 * @throws BadRequestError when the text is not JSON.
 */
function parseSteps(text: string): unknown {
  if (text === '' || text === 'null') return undefined;
  try {
    return JSON.parse(text) ?? undefined;
  } catch (err) {
    throw new BadRequestError(`[DTM_BAD_STEPS] Steps is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The HTTP body for a `DtmRequest` (dtm-grpc.md §3's field table).
 * @throws BadRequestError when `Steps` is not JSON.
 */
export function transBody(req: DtmRequestMessage): GrpcTransBody {
  const body: GrpcTransBody = { protocol: 'grpc' };
  if (req.Gid) body.gid = req.Gid;
  if (req.TransType) body.trans_type = req.TransType;
  const o = req.TransOptions;
  if (o !== undefined && o !== null) {
    if (o.WaitResult === true) body.wait_result = true;
    const timeoutToFail = int64(o.TimeoutToFail);
    if (timeoutToFail !== 0) body.timeout_to_fail = timeoutToFail;
    const retryInterval = int64(o.RetryInterval);
    if (retryInterval !== 0) body.retry_interval = retryInterval;
    const requestTimeout = int64(o.RequestTimeout);
    if (requestTimeout !== 0) body.request_timeout = requestTimeout;
    const retryLimit = int64(o.RetryLimit);
    if (retryLimit !== 0) body.retry_limit = retryLimit;
    const headers = nonEmptyMap(o.BranchHeaders);
    if (headers !== undefined) body.branch_headers = headers;
  }
  if (req.CustomedData) body.custom_data = req.CustomedData;
  // An empty payload is a payload: a step whose request message encodes to zero bytes.
  if (req.BinPayloads !== undefined && req.BinPayloads.length > 0) body.payloads = req.BinPayloads.map(bytes);
  if (req.QueryPrepared) body.query_prepared = req.QueryPrepared;
  const steps = parseSteps(req.Steps ?? '');
  if (steps !== undefined) body.steps = steps;
  const extra = nonEmptyMap(req.ReqExtra);
  if (extra !== undefined) body.req_extra = extra;
  if (req.RollbackReason) body.rollback_reason = req.RollbackReason;
  return body;
}

/**
 * The registerBranch body for a `DtmBranchRequest`: its `Data` map with gid, trans_type and
 * branch_id from the request (they win, as in DTM), and the payload as bytes. `Op` is ignored (the
 * SDK sends it empty; a workflow's op is `Data.op`), and so is `Data.data`: the payload is the data.
 */
export function branchFields(req: DtmBranchRequestMessage): { fields: Record<string, string>; payload: Buffer } {
  const fields: Record<string, string> = { ...req.Data };
  delete fields['data'];
  fields['gid'] = req.Gid ?? '';
  fields['trans_type'] = req.TransType ?? '';
  fields['branch_id'] = req.BranchID ?? '';
  return { fields, payload: req.BusiPayload === undefined ? Buffer.alloc(0) : bytes(req.BusiPayload) };
}

/** The `DtmProgressesReply` for a workflow's state. */
export function progressesReply(state: WorkflowState): DtmProgressesReplyMessage {
  const t = state.transaction;
  return {
    Transaction: { Gid: t.gid, Status: t.status, RollbackReason: t.rollback_reason, Result: t.result ?? '' },
    Progresses: state.progresses.map((p) => ({ Status: p.status, BinData: p.bin_data, BranchID: p.branch_id, Op: p.op })),
  };
}

/** A gRPC status: the code and its message. */
export interface GrpcStatus {
  code: status;
  details: string;
}

/**
 * The status for an error (dtm-grpc.md §3.1). FAILURE → Aborted and ONGOING → FailedPrecondition,
 * the message kept whole (its trailing ` FAILURE`/` ONGOING` is what DTM's SDK strips); input that
 * can never be valid → InvalidArgument; a store that is down or a process that is overloaded →
 * Unavailable (the client may retry); other DtmErrors → Unknown, grpc-go's code for a plain error;
 * anything else is a bug → Internal, like a recovered panic in DTM.
 */
export function grpcStatusOf(err: unknown): GrpcStatus {
  if (!(err instanceof DtmError)) return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
  switch (err.code) {
    case 'FAILURE':
      return { code: status.ABORTED, details: err.message };
    case 'ONGOING':
      return { code: status.FAILED_PRECONDITION, details: err.message };
    case 'BAD_REQUEST':
    case 'TOO_LARGE':
      return { code: status.INVALID_ARGUMENT, details: err.message };
    case 'STORE_UNAVAILABLE':
    case 'OVERLOADED':
      return { code: status.UNAVAILABLE, details: err.message };
    case 'UNAUTHORIZED':
      return { code: status.UNAUTHENTICATED, details: err.message };
    case 'NOT_FOUND':
    case 'INTERNAL':
    case 'STORE_CONTRACT':
      return { code: status.UNKNOWN, details: err.message };
    default:
      return err.code satisfies never;
  }
}
