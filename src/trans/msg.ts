/**
 * 2-phase messages (dtm-protocol.md §4.7). A prepared message that times out is checked back
 * through `query_prepared`; a submitted one runs its actions until each has succeeded, retrying
 * forever (a FAILURE from an action is just an error here). `custom_data` may delay the actions.
 */
import { BadRequestError, InternalError } from '../errors.js';
import type { NewBranch } from '../store/trans-scripts.js';
import { branchError, type BranchOutcome } from './branch-call.js';
import { assertBranchUrl } from './branch-target.js';
import { pad2, type TransBody } from './request.js';
import type { Round } from './round.js';
import { baseInterval, preparedRecheckAt } from './schedule.js';
import { registersNothing, type TransStrategy } from './strategy.js';
import { TOPIC_PREFIX } from './topics.js';

/** `delay` in seconds from msg custom_data (key matched case-insensitively, as Go's JSON does). */
function msgDelaySeconds(customData: string): number {
  if (customData === '') return 0;
  try {
    const obj = JSON.parse(customData) as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === 'delay' && typeof v === 'number' && v > 0) return v;
  } catch {
    // validated at submit; a record that does not parse has no delay
  }
  return 0;
}

async function processMsg(round: Round): Promise<void> {
  const t = round.trans;
  const now = round.deps.clock.now();

  if (t.status === 'prepared') {
    if (!round.isTimedOut()) {
      // Nothing to do before the deadline: come back exactly then, or at the next interval.
      round.scheduleAt(preparedRecheckAt(t.create_time, round.timeoutSeconds(), t.next_cron_interval, now));
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

/** The distinct topic names of a msg's `topic://<name>` steps. */
function msgTopics(body: TransBody): string[] {
  const names = new Set<string>();
  for (const s of body.steps) {
    const action = s['action'] ?? '';
    if (action.startsWith(TOPIC_PREFIX)) names.add(action.slice(TOPIC_PREFIX.length));
  }
  return [...names];
}

/**
 * A msg's branches: one action per step, or per subscriber of a `topic://<name>` step
 * (dtm-protocol.md §4.7): branch ids `%02d` for one subscriber, `%02d-%02d` for several, all
 * with the step's payload.
 * @throws InternalError `topic not found` (DTM's 500) for a topic with no subscriber.
 */
function msgBranches(body: TransBody, subscribers: ReadonlyMap<string, readonly string[]>): NewBranch[] {
  if (body.req.custom_data !== '') {
    try {
      JSON.parse(body.req.custom_data);
    } catch {
      throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] custom_data is not valid JSON');
    }
  }
  const out: NewBranch[] = [];
  body.steps.forEach((s, i) => {
    const action = s['action'] ?? '';
    const data = body.payloads[i] ?? '';
    if (action.startsWith(TOPIC_PREFIX)) {
      const name = action.slice(TOPIC_PREFIX.length);
      const urls = subscribers.get(name) ?? [];
      if (urls.length === 0) throw new InternalError('topic not found');
      urls.forEach((url, j) => {
        assertBranchUrl(url, `subscriber ${j + 1} of topic ${name}`, body.req.protocol);
        out.push({ branch_id: urls.length > 1 ? `${pad2(i + 1)}-${pad2(j + 1)}` : pad2(i + 1), op: 'action', url, data });
      });
      return;
    }
    assertBranchUrl(action, `steps[${i}].action`, body.req.protocol);
    out.push({ branch_id: pad2(i + 1), op: 'action', url: action, data });
  });
  return out;
}

export const msg: TransStrategy = {
  topicsOf: msgTopics,
  branchesOf: msgBranches,
  registeredBranchesOf: registersNothing('msg'),
  defaultTimeoutS: (config) => config.timeoutToFailMs / 1000,
  preparedWait: 'deadline',
  abort: 'fail',
  submit: 'drive',
  postBranchCalls: 'withBody',
  processRound: processMsg,
};
