/**
 * Drives transactions: one round at a time per transaction within this process, whether the
 * round was started by an API call or by the cron poller.
 */
import { DtmError, StoreUnavailableError } from '../errors.js';
import { isFinal, type Trans, type TransStatus } from '../types.js';
import { createRound, StaleRoundError, type Round, type RoundDeps } from './round.js';
import { leaseMs } from './schedule.js';
import { strategies } from './strategies.js';

export interface RoundResult {
  /** The transaction as the round left it. */
  trans: Trans;
  /** An error a `wait_result` caller should see (branch error for msg, store trouble). */
  error: DtmError | undefined;
  /** True when the round did not run because this process is already driving the gid. */
  skipped: boolean;
}

export interface Engine {
  /** Runs one round of `trans` now and reports how it ended. Never throws. */
  drive(trans: Trans): Promise<RoundResult>;
  /** Loads a claimed gid and runs one round; missing or finished records are skipped. */
  driveGid(gid: string): Promise<void>;
  /** gids with a round in flight in this process. */
  readonly active: ReadonlySet<string>;
}

export function createEngine(deps: RoundDeps): Engine {
  const active = new Set<string>();
  const { log, observer, clock } = deps;

  /** Round outcomes at debug; a transaction that failed at info (it rolled back), one that succeeded at debug. */
  function logOutcome(trans: Trans, from: TransStatus): void {
    const { gid, trans_type, status } = trans;
    if (status !== from && isFinal(status)) {
      const fields = { gid, trans_type, status, retries: trans.retries, ...(trans.rollback_reason !== '' ? { rollback_reason: trans.rollback_reason } : {}) };
      if (status === 'failed') log.info(fields, 'transaction failed');
      else log.debug(fields, 'transaction succeeded');
    } else {
      log.debug({ gid, trans_type, from, status, next_cron_time: trans.next_cron_time }, 'round done');
    }
  }

  async function runRound(trans: Trans): Promise<RoundResult> {
    if (active.has(trans.gid)) return { trans, error: undefined, skipped: true };
    active.add(trans.gid);
    const round: Round = createRound(trans, deps);
    const from = trans.status;
    let ok = true;
    try {
      await strategies[trans.trans_type].processRound(round);
      await round.end();
    } catch (err) {
      ok = false;
      if (err instanceof StaleRoundError) {
        log.debug({ gid: trans.gid, current: err.current }, 'round stopped: transaction changed concurrently');
      } else if (err instanceof StoreUnavailableError) {
        log.warn({ gid: trans.gid, trans_type: trans.trans_type, err: err.message }, 'round stopped: Redis unavailable; the schedule will retry it');
        round.error ??= err;
      } else {
        log.error({ gid: trans.gid, trans_type: trans.trans_type, err }, 'round failed');
        round.error ??= err instanceof DtmError ? err : new StoreUnavailableError(String(err), { cause: err });
      }
    } finally {
      active.delete(trans.gid);
    }
    observer.roundDone(trans.trans_type, ok && round.error === undefined, (clock.now() - trans.create_time) / 1000);
    logOutcome(trans, from);
    return { trans, error: round.error, skipped: false };
  }

  return {
    drive: runRound,
    active,
    async driveGid(gid) {
      if (active.has(gid)) return;
      let trans: Trans | undefined;
      try {
        trans = await deps.store.getTrans(gid);
      } catch (err) {
        log.warn({ gid, err: (err as Error).message }, 'could not load a due transaction');
        return;
      }
      if (trans === undefined || trans.status === 'succeed' || trans.status === 'failed') return;
      // Due at `scheduled_time`, it was claimed then; still unchanged a whole lease later means
      // that claim's holder died or overran its lease (or every poller was down that long).
      if (trans.scheduled_time !== undefined && clock.now() - trans.scheduled_time >= leaseMs(deps.config)) observer.leaseExpired(trans.trans_type);
      await runRound(trans);
    },
  };
}
