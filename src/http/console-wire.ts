/**
 * The JSON of the console's API (`/api/admin/…`), shared by the server (console-api.ts) and the
 * browser code (src/console/). Types only, importing nothing, so both sides compile it as it is.
 * Times the console computes with are milliseconds since the epoch; the transaction page shows
 * DTM's own `query` shapes, so whatever `query` gains appears there too.
 */

/** `GET /api/admin/session` and `POST /api/admin/login`. */
export interface SessionInfo {
  /** False only when ADMIN_TOKEN is set and this request carried no valid session or token. */
  authenticated: boolean;
  /** True when ADMIN_TOKEN is set. */
  auth_required: boolean;
  /** Who the server takes the caller for (`admin (session 1a2b3c4d)`, `anyone`). */
  who: string;
  version: string;
}

/** One row of the transaction list. */
export interface TransSummary {
  gid: string;
  trans_type: string;
  status: string;
  create_time: number;
  update_time: number;
  finish_time: number | null;
  /** When it is due next (a retry, a timeout, a lease's end); null once finished. */
  next_cron_time: number | null;
  branches: number;
  branches_succeed: number;
  branches_failed: number;
  /** Rounds that ended in a backoff (a failed branch call). */
  retries: number;
  rollback_reason: string;
  /** The most recent failed call's error among its branches, '' when none failed. */
  last_error: string;
}

/** `GET /api/admin/transactions`: one page of the listing walk; `next_position` '' at the end. */
export interface TransPage {
  transactions: TransSummary[];
  next_position: string;
  /** Set when the gid filter named an existing transaction exactly (shown first, on the first page). */
  exact?: TransSummary;
}

/**
 * DTM's `query` transaction, as views.ts writes it (RFC 3339 times): like DTM, empty fields are
 * omitted (Go's omitempty), so all but the first three may be missing.
 */
export interface DtmTransView {
  create_time: string | null;
  update_time: string | null;
  concurrent: boolean;
  gid?: string;
  trans_type?: string;
  status?: string;
  finish_time?: string | null;
  rollback_time?: string | null;
  next_cron_time?: string | null;
  next_cron_interval?: number;
  protocol?: string;
  query_prepared?: string;
  custom_data?: string;
  options?: string;
  result?: string;
  rollback_reason?: string;
  retry_count?: number;
  /** Rounds that ended in a backoff. */
  retries?: number;
  [field: string]: unknown;
}

/** DTM's `query` branch (omitempty as well), with the calls the coordinator made: `attempts`, `last_attempt_time`, `last_error`. */
export interface DtmBranchView {
  create_time: string | null;
  update_time: string | null;
  branch_id?: string;
  op?: string;
  url?: string;
  /** The payload, base64. */
  bin_data?: string;
  status?: string;
  finish_time?: string | null;
  attempts?: number;
  last_attempt_time?: string | null;
  last_error?: string;
  [field: string]: unknown;
}

/** `GET /api/admin/transactions/:gid`. */
export interface TransDetail {
  transaction: DtmTransView;
  branches: DtmBranchView[];
  /** The server's clock, ms: "due in 4 s" is computed against it, not the browser's. */
  now: number;
}

/** Per-second rates over the last sampling interval, from this process's own counters. */
export interface LiveRates {
  /** Successful submit and prepare requests. */
  submits: number;
  /** Processing rounds that ended well. */
  rounds_ok: number;
  /** Processing rounds that failed (a branch error, a rollback). */
  rounds_failed: number;
  branch_calls: number;
  branch_failures: number;
  /** HTTP requests answered with an error status. */
  request_errors: number;
}

/** `GET /api/admin/stats`. */
export interface LiveStats {
  now: number;
  /** Seconds the rates were measured over (0 on the first sample). */
  window_s: number;
  rates: LiveRates;
  /** Unfinished transactions by status, over every bucket (kept by the Lua scripts). */
  backlog: { prepared: number; submitted: number; aborting: number };
  /** How long the earliest-due unfinished transaction has been overdue, ms; 0 when none is overdue, null when none is scheduled. */
  oldest_due_age_ms: number | null;
}

export const BULK_ACTIONS = ['force-stop', 'retry'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** The listing filters, as the console sends them (times in ms, exclusive). */
export interface ListFilter {
  status?: string;
  trans_type?: string;
  gid_prefix?: string;
  create_time_start?: number;
  create_time_end?: number;
}

/** `POST /api/admin/bulk`: one bounded batch of a bulk run. */
export interface BulkRequest {
  action: BulkAction;
  filter: ListFilter;
  /** Where the walk continues; '' starts it. */
  position: string;
  /** Transactions to act on at most in this batch. */
  limit?: number;
  /** The run this batch belongs to and what it did so far, for the audit line of the finished run. */
  run?: { id: string; done_before: number };
}

export interface BulkReply {
  /** Transactions acted on in this batch. */
  done: number;
  /** Already finished (nothing to stop or retry). */
  skipped: number;
  failed: number;
  /** Up to 10 failures of this batch. */
  errors: { gid: string; error: string }[];
  next_position: string;
  /** True when the walk is over. */
  finished: boolean;
}

/** `GET /api/admin/topics`. */
export interface TopicsReply {
  topics: { name: string; subscribers: { url: string; remark: string }[]; version: number; update_time: number }[];
}

/** A console API error: DTM's error body. */
export interface ErrorReply {
  message: string;
  dtm_result?: string;
}
