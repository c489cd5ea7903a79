/**
 * TCC and XA share one shape (dtm-protocol.md §4.5, §4.6): the client registers branches while the
 * transaction is prepared; submit runs the confirm (commit) branches, abort or a timeout the cancel
 * (rollback) ones, one at a time, stopping the round at the first branch that does not succeed.
 */
import type { Config } from '../config.js';
import { branchError } from './branch-call.js';
import type { Round } from './round.js';
import { preparedRecheckAt } from './schedule.js';
import { noTopics } from './strategy.js';

export interface Phase2Shape {
  forwardOp: string;
  backwardOp: string;
  /** TCC walks branches last to first; XA first to last. */
  order: 'reverse' | 'forward';
}

export async function processPhase2(round: Round, shape: Phase2Shape): Promise<void> {
  const t = round.trans;
  if (t.status === 'prepared') {
    if (!round.isTimedOut()) {
      // Nothing to do before the deadline: come back then (or at the interval, if sooner).
      round.scheduleAt(preparedRecheckAt(t.create_time, round.timeoutSeconds(), t.next_cron_interval, round.deps.clock.now()));
      return;
    }
    // DTM quotes the option, so the default timeout reads "Timeout after 0 seconds".
    await round.changeStatus('aborting', `Timeout after ${t.req.options.timeout_to_fail} seconds`);
  }
  if (t.status !== 'submitted' && t.status !== 'aborting') return;
  const op = t.status === 'submitted' ? shape.forwardOp : shape.backwardOp;
  const indexes = t.branches.map((_, i) => i);
  if (shape.order === 'reverse') indexes.reverse();
  for (const i of indexes) {
    const b = t.branches[i]!;
    if (b.op !== op || b.status === 'succeed') continue;
    const o = await round.callBranch(i);
    if (o.result !== 'SUCCESS') {
      // A FAILURE here is an error too (retried until it succeeds); a waiting caller sees DTM's answer.
      round.error ??= branchError(b.url, o);
      return;
    }
    round.setBranch(i, 'succeed');
  }
  await round.changeStatus(t.status === 'submitted' ? 'succeed' : 'failed');
}

/** What TCC and XA share besides the round: the default timeout, waiting, abort and submit. */
export const phase2Defaults = {
  topicsOf: noTopics,
  defaultTimeoutS: (config: Pick<Config, 'timeoutToFailMs'>): number => config.timeoutToFailMs / 1000,
  preparedWait: 'deadline',
  abort: 'rollback',
  submit: 'drive',
} as const;
