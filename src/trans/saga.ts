/**
 * SAGA (dtm-protocol.md §4.4). Branch list per step s (0-based): compensate at 2s, action at
 * 2s+1. Actions run forward (sequentially, or concurrently under `orders`); on failure, timeout
 * or an exhausted retry limit the saga aborts and compensations run backward.
 */
import { BadRequestError } from '../errors.js';
import type { NewBranch } from '../store/trans-scripts.js';
import { assertBranchUrl } from './branch-target.js';
import { pad2 } from './request.js';
import type { Round } from './round.js';
import { noTopics, registersNothing, type TransStrategy } from './strategy.js';

/** Saga options from `custom_data`: `{"concurrent":bool,"orders":{"<step>":[<prereq steps>]}}`. */
export interface SagaLayout {
  concurrent: boolean;
  /** prerequisites of each step (0-based). */
  orders: ReadonlyMap<number, readonly number[]>;
}

/**
 * Parses and validates a saga's `custom_data` for `steps` steps.
 * @throws BadRequestError on malformed JSON or out-of-range orders.
 */
function parseSagaLayout(customData: string, steps: number): SagaLayout {
  if (customData === '') return { concurrent: false, orders: new Map() };
  let raw: unknown;
  try {
    raw = JSON.parse(customData);
  } catch {
    throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] custom_data is not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('[DTM_BAD_CUSTOM_DATA] custom_data must be a JSON object');
  const obj = raw as { concurrent?: unknown; orders?: unknown };
  const orders = new Map<number, number[]>();
  if (obj.orders !== undefined && obj.orders !== null) {
    if (typeof obj.orders !== 'object' || Array.isArray(obj.orders)) throw new BadRequestError('[DTM_BAD_ORDERS] orders must be an object of step → [steps]');
    for (const [k, v] of Object.entries(obj.orders as Record<string, unknown>)) {
      const step = Number(k);
      if (!Number.isInteger(step) || step < 0 || step >= steps)
        throw new BadRequestError(`[DTM_BAD_ORDERS] orders key ${k} is not a step index below ${steps}`);
      if (!Array.isArray(v) || !v.every((p) => Number.isInteger(p) && (p as number) >= 0 && (p as number) < steps && p !== step)) {
        throw new BadRequestError(`[DTM_BAD_ORDERS] orders[${k}] must list other step indexes below ${steps}`);
      }
      orders.set(step, v as number[]);
    }
  }
  return { concurrent: obj.concurrent === true, orders };
}

const act = (s: number): number => 2 * s + 1;
const comp = (s: number): number => 2 * s;

/** One saga round; writes go through the round. */
async function processSaga(round: Round): Promise<void> {
  const t = round.trans;
  const steps = t.branches.length / 2;
  const layout = parseSagaLayout(t.req.custom_data, steps);
  const dependents = new Map<number, number[]>();
  for (const [s, pre] of layout.orders) for (const p of pre) dependents.set(p, [...(dependents.get(p) ?? []), s]);
  const status = (i: number): string => t.branches[i]!.status;

  const shouldRun = (s: number): boolean => {
    if (!layout.concurrent && s > 0 && status(act(s - 1)) !== 'succeed') return false;
    return (layout.orders.get(s) ?? []).every((p) => status(act(p)) === 'succeed');
  };

  if (t.status === 'submitted' && round.isTimedOut()) {
    await round.changeStatus('aborting', `Timeout after ${t.req.options.timeout_to_fail} seconds`);
  }

  const { clock } = round.deps;
  // A round's budget for re-invoking branches under retry_limit: one request timeout and 2 s.
  const budgetMs = (t.req.options.request_timeout > 0 ? t.req.options.request_timeout * 1000 : round.deps.config.requestTimeoutMs) + 2000;
  const started = new Set<number>();
  if (t.status === 'submitted') {
    const deadline = clock.now() + budgetMs;
    const pendingAtStart = Array.from({ length: steps }, (_, s) => s).filter((s) => status(act(s)) === 'prepared');
    let failure: string | undefined;
    let retryExhausted = false;
    const inflight = new Map<number, Promise<{ s: number; o: Awaited<ReturnType<Round['callBranch']>> }>>();
    const limit = t.req.options.retry_limit;
    for (;;) {
      if (failure === undefined && !retryExhausted && !round.isTimedOut() && clock.now() < deadline) {
        for (let s = 0; s < steps; s++) {
          if (status(act(s)) === 'prepared' && !started.has(s) && !inflight.has(s) && shouldRun(s)) {
            started.add(s);
            inflight.set(
              s,
              round.callBranch(act(s)).then((o) => ({ s, o })),
            );
          }
        }
      }
      if (inflight.size === 0) break;
      const { s, o } = await Promise.race(inflight.values());
      inflight.delete(s);
      if (o.result === 'SUCCESS') {
        round.setBranch(act(s), 'succeed');
      } else if (o.result === 'FAILURE') {
        round.setBranch(act(s), 'failed');
        failure ??= `url:${t.branches[act(s)]!.url} return failed: ${o.detail} FAILURE`;
      } else if (limit > 0 && failure === undefined && !retryExhausted) {
        if (t.retry_count < limit) {
          t.retry_count++;
          started.delete(s); // re-invoke at once, as DTM does
        } else {
          retryExhausted = true;
        }
      }
    }
    if (failure !== undefined) {
      await round.changeStatus('aborting', failure);
    } else if (retryExhausted) {
      await round.changeStatus('aborting', `RetryCount is greater than RetryLimit, RetryLimit: ${limit}`);
    } else if (round.isTimedOut()) {
      await round.changeStatus('aborting', `Timeout after ${t.req.options.timeout_to_fail} seconds`);
    } else if (pendingAtStart.every((s) => status(act(s)) === 'succeed') && t.branches.every((b, i) => i % 2 === 0 || b.status === 'succeed')) {
      await round.changeStatus('succeed');
      return;
    }
  }

  if (t.status !== 'aborting') return;

  // Actions that may have run: eligible to run now, or started this round without an answer.
  const mayHaveRun = new Set<number>();
  for (let s = 0; s < steps; s++) {
    const st = status(act(s));
    if (st !== 'prepared' || started.has(s) || shouldRun(s)) mayHaveRun.add(s);
  }
  const rolledBack = (s: number): boolean => status(comp(s)) === 'succeed' || !mayHaveRun.has(s);
  const shouldRollback = (s: number): boolean => {
    if (rolledBack(s)) return false;
    if (!layout.concurrent && s + 1 < steps && !rolledBack(s + 1)) return false;
    return (dependents.get(s) ?? []).every(rolledBack);
  };
  const deadline = clock.now() + budgetMs;
  const inflight = new Map<number, Promise<{ s: number; ok: boolean }>>();
  const tried = new Set<number>();
  for (;;) {
    if (clock.now() < deadline) {
      for (let s = steps - 1; s >= 0; s--) {
        if (!tried.has(s) && !inflight.has(s) && shouldRollback(s)) {
          tried.add(s);
          inflight.set(
            s,
            round.callBranch(comp(s)).then((o) => ({ s, ok: o.result === 'SUCCESS' })),
          );
        }
      }
    }
    if (inflight.size === 0) break;
    const { s, ok } = await Promise.race(inflight.values());
    inflight.delete(s);
    // A compensation answering FAILURE is an error to retry, never a failed branch.
    if (ok) round.setBranch(comp(s), 'succeed');
  }
  if (Array.from({ length: steps }, (_, s) => s).every(rolledBack)) {
    await round.changeStatus('failed');
  }
}

/** A saga's branches: per step (compensate, action), with branch ids `01`, `02`, … */
function sagaBranches(body: {
  steps: readonly Record<string, string>[];
  payloads: readonly (string | Buffer)[];
  req: { custom_data: string; protocol: string };
}): NewBranch[] {
  parseSagaLayout(body.req.custom_data, body.steps.length);
  const out: NewBranch[] = [];
  body.steps.forEach((s, i) => {
    const action = s['action'] ?? '';
    const compensate = s['compensate'] ?? '';
    assertBranchUrl(action, `steps[${i}].action`, body.req.protocol);
    assertBranchUrl(compensate, `steps[${i}].compensate`, body.req.protocol);
    const data = body.payloads[i] ?? '';
    out.push({ branch_id: pad2(i + 1), op: 'compensate', url: compensate, data });
    out.push({ branch_id: pad2(i + 1), op: 'action', url: action, data });
  });
  return out;
}

export const saga: TransStrategy = {
  topicsOf: noTopics,
  branchesOf: sagaBranches,
  registeredBranchesOf: registersNothing('saga'),
  defaultTimeoutS: () => 0,
  preparedWait: 'interval',
  abort: 'refuse',
  submit: 'drive',
  postBranchCalls: 'withBody',
  processRound: processSaga,
};
