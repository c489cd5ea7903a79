/**
 * Wire and stored shapes. Field names stay DTM's snake_case end to end so the JSON we return
 * is DTM's without a mapping layer.
 */

export const TransStatus = {
  prepared: 'prepared',
  submitted: 'submitted',
  aborting: 'aborting',
  succeed: 'succeed',
  failed: 'failed',
} as const;
export type TransStatus = (typeof TransStatus)[keyof typeof TransStatus];

export const BranchStatus = { prepared: 'prepared', succeed: 'succeed', failed: 'failed' } as const;
export type BranchStatus = (typeof BranchStatus)[keyof typeof BranchStatus];

export const TransType = { saga: 'saga', msg: 'msg', tcc: 'tcc', xa: 'xa', workflow: 'workflow' } as const;
export type TransType = (typeof TransType)[keyof typeof TransType];

const TYPES = new Set<string>(Object.values(TransType));

/** True for the name of a transaction type. */
export function isTransType(v: unknown): v is TransType {
  return typeof v === 'string' && TYPES.has(v);
}

/** Options captured at creation (DTM's TransOptions). Seconds, as on the wire. */
export interface TransOptions {
  wait_result: boolean;
  timeout_to_fail: number;
  request_timeout: number;
  retry_interval: number;
  branch_headers: Record<string, string>;
  concurrent: boolean;
  retry_limit: number;
}

/** The immutable part of a transaction, stored as one msgpack blob. */
export interface TransRequest {
  protocol: string;
  query_prepared: string;
  custom_data: string;
  options: TransOptions;
}

/** A branch: static part (set at creation or registration) plus its status. */
export interface Branch {
  branch_id: string;
  op: string;
  url: string;
  /** The payload sent as the request body: JSON text over HTTP, bytes (kept exact) over gRPC. */
  data: string | Buffer;
  status: BranchStatus;
  /** ms; when the status last changed, or the creation time. */
  finish_time: number | undefined;
  /** Calls the coordinator made to the branch. */
  attempts: number;
  /** ms; when the branch was last called. */
  last_attempt_time: number | undefined;
  /** The last failed call's outcome and answer (bounded), or ''. */
  last_error: string;
}

/** A transaction as the processors see it. Times in ms, intervals in s. */
export interface Trans {
  gid: string;
  trans_type: TransType;
  status: TransStatus;
  create_time: number;
  update_time: number;
  finish_time: number | undefined;
  rollback_time: number | undefined;
  next_cron_time: number | undefined;
  /** ms; the next cron time the last round (or creation) chose, before any claim's lease. */
  scheduled_time: number | undefined;
  next_cron_interval: number;
  rollback_reason: string;
  retry_count: number;
  /** Rounds that ended in a backoff (a failed branch call). */
  retries: number;
  result: string;
  req: TransRequest;
  branches: Branch[];
}

export function isFinal(status: TransStatus): boolean {
  return status === 'succeed' || status === 'failed';
}
