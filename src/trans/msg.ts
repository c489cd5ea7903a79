/**
 * 2-phase messages (dtm-protocol.md §4.7). A prepared message that times out is checked back
 * through `query_prepared`; a submitted one runs its actions until each has succeeded, retrying
 * forever (a FAILURE from an action is just an error here). `custom_data` may delay the actions.
 */
import { baseInterval } from '../backoff.js';
import { branchError, type BranchOutcome } from './branch-call.js';
import type { Round } from './round.js';

/** `delay` in seconds from msg custom_data (key matched case-insensitively, as Go's JSON does). */
export function msgDelaySeconds(customData: string): number {
  if (customData === '') return 0;
  try {
    const obj = JSON.parse(customData) as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === 'delay' && typeof v === 'number' && v > 0) return v;
  } catch {
    // validated at submit; a record that does not parse has no delay
  }
  return 0;
}

export async function processMsg(round: Round): Promise<void> {
  const t = round.trans;
  const now = round.deps.clock.now();

  if (t.status === 'prepared') {
    if (!round.isTimedOut()) {
      // Nothing to do before the deadline: come back exactly then, or at the next interval.
      round.scheduleAt(Math.min(t.create_time + round.timeoutSeconds() * 1000, now + t.next_cron_interval * 1000));
      return;
    }
    if (t.req.query_prepared === '') {
      await round.changeStatus('submitted');
    } else {
      const o = await round.callUrl(t.req.query_prepared, '00', 'msg', '');
      if (o.result === 'SUCCESS') {
        await round.changeStatus('submitted');
      } else if (o.result === 'FAILURE') {
        await round.changeStatus('failed');
        return;
      } else {
        if (o.result === 'ONGOING') {
          const base = baseInterval(t.req.options, round.deps.config);
          round.scheduleAt(now + base * 1000, base);
        }
        return;
      }
    }
  }
  if (t.status !== 'submitted') return;

  const delay = msgDelaySeconds(t.req.custom_data);
  if (delay > 0 && now - t.create_time < delay * 1000) {
    round.scheduleAt(now + delay * 1000);
    return;
  }

  const pending = t.branches.map((b, i) => ({ b, i })).filter(({ b }) => b.status === 'prepared');
  const record = (i: number, o: BranchOutcome): boolean => {
    if (o.result === 'SUCCESS') {
      round.setBranch(i, 'succeed');
      return true;
    }
    if (o.result !== 'ONGOING') {
      // A msg action's FAILURE is only an error to retry; DTM answers a waiting caller 500.
      round.error ??= branchError(t.branches[i]!.url, o);
    }
    return false;
  };
  if (t.req.options.concurrent) {
    const outcomes = await Promise.all(pending.map(({ i }) => round.callBranch(i)));
    outcomes.forEach((o, k) => record(pending[k]!.i, o));
  } else {
    for (const { i } of pending) {
      if (!record(i, await round.callBranch(i))) break;
    }
  }
  if (t.branches.every((b) => b.status === 'succeed')) await round.changeStatus('succeed');
}
