/**
 * A transaction's timeline, from what `query` returns: created, each branch's last attempt and
 * outcome, the end (a failed one ends at its `rollback_time`, as in DTM, with its reason; a
 * succeeded one at its `finish_time`), or, while it runs, the rollback under way and the next
 * due time. Sorted by time; events at the same time keep the order they happen in.
 */
import type { TransDetail } from '../../http/console-wire.js';
import { parseDtmTime } from './format.js';
import { branchFields, transFields, type BranchFields } from './views.js';

export type TimelineKind = 'created' | 'branch-ok' | 'branch-failed' | 'branch-attempt' | 'rollback' | 'finished' | 'failed' | 'due';

export interface TimelineEvent {
  at: number;
  kind: TimelineKind;
  text: string;
  /** The branch it is about, for a branch event. */
  branch?: string;
}

const branchName = (b: BranchFields): string => `${b.branch_id} ${b.op}`;

/** The events of `d`, oldest first. */
export function timelineOf(d: TransDetail): TimelineEvent[] {
  const t = transFields(d.transaction);
  const events: (TimelineEvent & { order: number })[] = [];
  const add = (at: number | undefined, kind: TimelineKind, text: string, order: number, branch?: string): void => {
    if (at !== undefined) events.push({ at, kind, text, order, ...(branch !== undefined ? { branch } : {}) });
  };
  add(parseDtmTime(t.create_time), 'created', `${t.trans_type} created (${t.status === 'prepared' ? 'prepared' : 'submitted'})`, 0);
  for (const b of d.branches.map(branchFields)) {
    const name = branchName(b);
    const finished = parseDtmTime(b.finish_time);
    const attempted = parseDtmTime(b.last_attempt_time);
    const attempts = b.attempts > 1 ? ` after ${b.attempts} attempts` : '';
    if (b.status === 'succeed') add(finished, 'branch-ok', `${name} succeeded${attempts}`, 1, b.branch_id);
    else if (b.status === 'failed') add(finished, 'branch-failed', `${name} failed${attempts}`, 1, b.branch_id);
    if (b.status === 'prepared' && attempted !== undefined && b.last_error !== '') {
      add(attempted, 'branch-attempt', `${name} attempt ${b.attempts} failed: ${b.last_error}`, 1, b.branch_id);
    }
  }
  const reason = t.rollback_reason !== '' ? `: ${t.rollback_reason}` : '';
  const updated = parseDtmTime(t.update_time);
  if (t.status === 'succeed') add(parseDtmTime(t.finish_time) ?? updated, 'finished', 'finished: succeed', 3);
  else if (t.status === 'failed') add(parseDtmTime(t.rollback_time) ?? parseDtmTime(t.finish_time) ?? updated, 'failed', `finished: failed${reason}`, 3);
  else {
    if (t.status === 'aborting') add(updated, 'rollback', `rolling back${reason}`, 2);
    add(parseDtmTime(t.next_cron_time), 'due', 'due next (retry, timeout check or lease end)', 4);
  }
  return events.sort((a, b) => a.at - b.at || a.order - b.order).map(({ order: _order, ...e }) => e);
}

/** The order ops are shown in within a branch id: the forward ops, then the ones that undo them. */
const OP_ORDER = ['try', 'action', 'confirm', 'commit', 'compensate', 'cancel', 'rollback'];

/** Branches by branch id, and within one id the forward op first (the store keeps a saga's compensation first). */
export function orderBranches(branches: readonly BranchFields[]): BranchFields[] {
  const rank = (op: string): number => {
    const i = OP_ORDER.indexOf(op);
    return i === -1 ? OP_ORDER.length : i;
  };
  return branches
    .map((b, i) => ({ b, i }))
    .sort((x, y) => (x.b.branch_id < y.b.branch_id ? -1 : x.b.branch_id > y.b.branch_id ? 1 : rank(x.b.op) - rank(y.b.op) || x.i - y.i))
    .map(({ b }) => b);
}
