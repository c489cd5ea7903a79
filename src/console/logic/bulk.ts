/**
 * A bulk run's state machine. The server acts on one bounded batch per request and says where
 * the next starts; the console loops, shows progress, can pause, and keeps the run in local
 * storage so that a reload offers to resume it from the last position instead of starting over.
 *
 *   running --batch--> running | finished     running --pause--> paused
 *   running --error--> stalled                paused | stalled --resume--> running
 *   (reload) running --restore--> paused
 */
import { BULK_ACTIONS, type BulkAction, type BulkReply, type BulkRequest, type ListFilter } from '../../http/console-wire.js';

export type BulkPhase = 'running' | 'paused' | 'stalled' | 'finished';

export interface BulkRun {
  id: string;
  action: BulkAction;
  filter: ListFilter;
  /** The filter in words, for the panel. */
  label: string;
  /** Where the next batch starts. */
  position: string;
  phase: BulkPhase;
  done: number;
  skipped: number;
  failed: number;
  batches: number;
  /** The last few failures. */
  errors: { gid: string; error: string }[];
  /** How many transactions the filter matches, when the console can tell (a status-only filter: the backlog count). */
  estimate: number | undefined;
  /** Why the run stalled. */
  message: string;
  startedAt: number;
}

/** Transactions per batch: one request acts on at most this many. */
const BATCH_SIZE = 100;
const KEPT_ERRORS = 10;

export function startRun(action: BulkAction, filter: ListFilter, label: string, estimate: number | undefined, id: string, now: number): BulkRun {
  return {
    id,
    action,
    filter,
    label,
    position: '',
    phase: 'running',
    done: 0,
    skipped: 0,
    failed: 0,
    batches: 0,
    errors: [],
    estimate,
    message: '',
    startedAt: now,
  };
}

/** The body of the next batch's request. */
export function nextRequest(run: BulkRun, limit = BATCH_SIZE): BulkRequest {
  return { action: run.action, filter: run.filter, position: run.position, limit, run: { id: run.id, done_before: run.done } };
}

/** The run after a batch answered. A batch that arrives for a run no longer running (paused meanwhile) still counts. */
export function applyBatch(run: BulkRun, reply: BulkReply): BulkRun {
  const next: BulkRun = {
    ...run,
    position: reply.next_position,
    done: run.done + reply.done,
    skipped: run.skipped + reply.skipped,
    failed: run.failed + reply.failed,
    batches: run.batches + 1,
    errors: [...run.errors, ...reply.errors].slice(-KEPT_ERRORS),
    message: '',
  };
  if (reply.finished) next.phase = 'finished';
  return next;
}

/** A batch failed (the network, a 503): the run stops where it was and can be resumed from there. */
export function stall(run: BulkRun, message: string): BulkRun {
  return run.phase === 'finished' ? run : { ...run, phase: 'stalled', message };
}

export function pause(run: BulkRun): BulkRun {
  return run.phase === 'running' ? { ...run, phase: 'paused' } : run;
}

export function resume(run: BulkRun): BulkRun {
  return run.phase === 'paused' || run.phase === 'stalled' ? { ...run, phase: 'running', message: '' } : run;
}

/** Transactions the run has walked past so far. */
export const visited = (run: BulkRun): number => run.done + run.skipped + run.failed;

/** Progress from 0 to 1, or undefined when the total is unknown (the bar then shows activity only). */
export function progress(run: BulkRun): number | undefined {
  if (run.phase === 'finished') return 1;
  if (run.estimate === undefined || run.estimate <= 0) return undefined;
  return Math.min(0.99, visited(run) / run.estimate);
}

/** The run as local storage keeps it. */
export function serialize(run: BulkRun): string {
  return JSON.stringify(run);
}

/**
 * The run local storage kept, or undefined when there is none or it is not one. A run that was
 * running when the page went away comes back paused: resuming is the operator's decision.
 */
export function restore(text: string | null): BulkRun | undefined {
  if (text === null) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const r = v as Partial<BulkRun>;
  const numbers = [r.done, r.skipped, r.failed, r.batches, r.startedAt];
  if (
    typeof r.id !== 'string' ||
    !BULK_ACTIONS.includes(r.action as BulkAction) ||
    typeof r.position !== 'string' ||
    typeof r.label !== 'string' ||
    r.filter === null ||
    typeof r.filter !== 'object' ||
    !numbers.every((n) => typeof n === 'number' && Number.isFinite(n)) ||
    !['running', 'paused', 'stalled', 'finished'].includes(r.phase as string)
  ) {
    return undefined;
  }
  const run = { ...r, errors: Array.isArray(r.errors) ? r.errors : [], message: typeof r.message === 'string' ? r.message : '' } as BulkRun;
  if (typeof run.estimate !== 'number') run.estimate = undefined;
  return run.phase === 'running' ? { ...run, phase: 'paused' } : run;
}

/** The action in words. */
export function actionLabel(action: BulkAction): string {
  return action === 'force-stop' ? 'Force-stop' : 'Retry now';
}
