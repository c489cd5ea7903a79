/**
 * Drives transactions: one round at a time per transaction within this process, whether the
 * round was started by an API call or by the cron poller, and at most MAX_INFLIGHT_ROUNDS rounds
 * at once (round-slots.ts).
 */
import { DtmError, StoreUnavailableError } from '../errors.js';
import { isFinal, type Trans, type TransStatus } from '../types.js';
import { createRound, StaleRoundError, type Round, type RoundDeps } from './round.js';
import { createRoundSlots, type RoundSlots } from './round-slots.js';
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

export interface DriveOptions {
  /** A caller waits for this round: its status changes are acknowledged writes. */
  acknowledged?: boolean;
  /** The caller holds a slot from reserve(); the round uses it (else it waits in line for one). */
  reserved?: boolean;
}

export interface Engine {
  /** The bound on rounds in flight, shared by API-started and poller-started rounds. */
  readonly slots: RoundSlots;
  /**
   * Takes a slot for a round the caller is about to start (right after it persists the
   * transaction). False when every slot is busy: the caller then schedules the transaction due
   * now and leaves it to the poller (or, if it must wait for the outcome, drives it unreserved).
   */
  reserve(): boolean;
  /** Gives back a slot from reserve() that no round will use (the write failed or found nothing to drive). */
  unreserve(): void;
  /**
   * Runs one round of `trans` and reports how it ended. Never throws. Without a reserved slot it
   * first waits in line for one; a transaction whose schedule came due meanwhile (another process
   * may have taken it) is read again first.
   */
  drive(trans: Trans, opts?: DriveOptions): Promise<RoundResult>;
  /**
   * Loads a claimed gid and runs one round, in a slot the caller took from `slots` and that is
   * given back when the round ends; missing or finished records are skipped.
   */
  driveGid(gid: string): Promise<void>;
  /** gids with a round in flight in this process, or waiting in line for a slot. */
  readonly active: ReadonlySet<string>;
}

export function createEngine(deps: RoundDeps): Engine {
  const active = new Set<string>();
  const { log, observer, clock } = deps;
  const slots = createRoundSlots(deps.config.maxInflightRounds);

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

  /** Runs one round in a slot the caller holds and has marked `trans.gid` active for; frees both. */
  async function runRound(trans: Trans, acknowledged: boolean): Promise<RoundResult> {
    const round: Round = createRound(trans, deps, acknowledged);
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
      slots.release();
    }
    // As DTM counts dtm_transaction_process_total: a round that hit an error, or that began
    // submitted and ended otherwise than succeed (rolled back, or still waiting on a branch), is a
    // failure, whoever waits for it. (DTM counts a background start as ok before it runs; here a
    // background round is counted when it ends, by the same rule as a waited one.)
    observer.roundDone(
      trans.trans_type,
      ok && round.error === undefined && (from !== 'submitted' || trans.status === 'succeed'),
      (clock.now() - trans.create_time) / 1000,
    );
    logOutcome(trans, from);
    return { trans, error: round.error, skipped: false };
  }

  /** Reads a claimed gid; undefined (logged) when Redis cannot answer. */
  async function load(gid: string): Promise<Trans | undefined> {
    try {
      return await deps.store.getTrans(gid);
    } catch (err) {
      log.warn({ gid, err: (err as Error).message }, 'could not load a due transaction');
      return undefined;
    }
  }

  async function drive(trans: Trans, opts: DriveOptions = {}): Promise<RoundResult> {
    const { gid } = trans;
    if (active.has(gid)) {
      if (opts.reserved === true) slots.release();
      return { trans, error: undefined, skipped: true };
    }
    active.add(gid);
    if (opts.reserved !== true) {
      await slots.acquire();
      // It waited past its schedule: another process may have claimed it meanwhile, so start from
      // what is stored (and answer with it if that round finished the transaction).
      if (clock.now() >= (trans.next_cron_time ?? 0)) {
        let stored: Trans | undefined;
        try {
          stored = await deps.store.getTrans(gid);
        } catch (err) {
          active.delete(gid);
          slots.release();
          return { trans, error: err instanceof DtmError ? err : new StoreUnavailableError(String(err), { cause: err }), skipped: false };
        }
        if (stored === undefined || isFinal(stored.status)) {
          active.delete(gid);
          slots.release();
          return { trans: stored ?? trans, error: undefined, skipped: false };
        }
        trans = stored;
      }
    }
    return runRound(trans, opts.acknowledged ?? false);
  }

  return {
    slots,
    reserve: () => slots.tryAcquire(),
    unreserve: () => slots.release(),
    drive,
    active,
    async driveGid(gid) {
      if (active.has(gid)) {
        slots.release();
        return;
      }
      active.add(gid);
      const trans = await load(gid);
      if (trans === undefined || trans.status === 'succeed' || trans.status === 'failed') {
        active.delete(gid);
        slots.release();
        return;
      }
      // Due at `scheduled_time`, it was claimed then; still unchanged a whole lease later means
      // that claim's holder died or overran its lease (or every poller was down that long).
      if (trans.scheduled_time !== undefined && clock.now() - trans.scheduled_time >= leaseMs(deps.config)) observer.leaseExpired(trans.trans_type);
      await runRound(trans, false);
    },
  };
}
