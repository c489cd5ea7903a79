/**
 * `query`'s JSON with every field present. Like DTM, the coordinator omits empty fields (Go's
 * omitempty): a missing string is '', a missing number 0, a missing time null.
 */
import type { DtmBranchView, DtmTransView } from '../../http/console-wire.js';

export interface TransFields {
  gid: string;
  trans_type: string;
  status: string;
  create_time: string | null;
  update_time: string | null;
  finish_time: string | null;
  rollback_time: string | null;
  next_cron_time: string | null;
  next_cron_interval: number;
  protocol: string;
  query_prepared: string;
  custom_data: string;
  options: string;
  result: string;
  rollback_reason: string;
  /** Rounds that ended in a backoff. */
  retries: number;
}

export interface BranchFields {
  branch_id: string;
  op: string;
  url: string;
  bin_data: string;
  status: string;
  finish_time: string | null;
  attempts: number;
  last_attempt_time: string | null;
  last_error: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const time = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function transFields(v: DtmTransView): TransFields {
  return {
    gid: str(v.gid),
    trans_type: str(v.trans_type),
    status: str(v.status),
    create_time: time(v.create_time),
    update_time: time(v.update_time),
    finish_time: time(v.finish_time),
    rollback_time: time(v.rollback_time),
    next_cron_time: time(v.next_cron_time),
    next_cron_interval: num(v.next_cron_interval),
    protocol: str(v.protocol),
    query_prepared: str(v.query_prepared),
    custom_data: str(v.custom_data),
    options: str(v.options),
    result: str(v.result),
    rollback_reason: str(v.rollback_reason),
    retries: num(v.retries),
  };
}

export function branchFields(v: DtmBranchView): BranchFields {
  return {
    branch_id: str(v.branch_id),
    op: str(v.op),
    url: str(v.url),
    bin_data: str(v.bin_data),
    status: str(v.status),
    finish_time: time(v.finish_time),
    attempts: num(v.attempts),
    last_attempt_time: time(v.last_attempt_time),
    last_error: str(v.last_error),
  };
}
