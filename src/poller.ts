/**
 * The cron poller: every TRANS_CRON_INTERVAL it claims the due transactions of every bucket
 * (atomically, with a lease, so no other process takes them meanwhile) and drives each one round,
 * in the engine's free round slots (MAX_INFLIGHT_ROUNDS, shared with API-started rounds). Any
 * number of processes may poll the same Redis.
 */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import type { Engine } from './trans/engine.js';
import { leaseMs } from './trans/schedule.js';

export interface Poller {
  /** Starts the background loop. */
  start(): void;
  /**
   * One pass over every bucket (over the next ones only, when there are fewer free round slots
   * than buckets); resolves when the claimed rounds are done. Returns the number claimed.
   */
  tick(): Promise<number>;
  /** Stops the loop and waits for rounds in flight. */
  stop(): Promise<void>;
}

export interface PollerDeps {
  store: Store;
  engine: Engine;
  config: Config;
  log: Logger;
  /** Reports the number of transactions claimed per pass, for metrics. */
  onClaimed?: (count: number) => void;
}

/** How many gids one claim script takes from a bucket. */
export const CLAIM_BATCH = 100;

/** Claims per bucket a pass takes room for when the last pass found little. */
const IDLE_SHARE = 4;

/** What one bucket's claim may take in a pass. */
export interface ClaimShare {
  bucket: number;
  limit: number;
}

/**
 * Spreads `room` claims over `buckets` buckets: ⌊room/B⌋ each, one more for the first room mod B
 * buckets counted from `first` (which rotates from pass to pass, so no bucket is always last), at
 * most `cap` per bucket. Buckets whose share is 0 are left out.
 */
export function shareRoom(room: number, buckets: number, first: number, cap = CLAIM_BATCH): ClaimShare[] {
  const shares: ClaimShare[] = [];
  if (room <= 0) return shares;
  const each = Math.floor(room / buckets);
  const extra = room % buckets;
  for (let k = 0; k < buckets; k++) {
    const limit = Math.min(cap, each + (k < extra ? 1 : 0));
    if (limit > 0) shares.push({ bucket: (first + k) % buckets, limit });
  }
  return shares;
}

/** What a pass found. */
interface PassResult {
  claimed: number;
  /** More may be due: a bucket filled its share, or there was no room to look. */
  more: boolean;
}

export function createPoller(deps: PollerDeps): Poller {
  const { store, engine, config, log } = deps;
  const { slots } = engine;
  const buckets = store.keys.buckets;
  const lease = leaseMs(config);
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let nextBucket = Math.floor(Math.random() * buckets);
  const inflight = new Set<Promise<void>>();
  /** The last pass left due work behind for want of room. */
  let starved = false;
  /**
   * Buckets asked since one last filled its share (capped at the bucket count). With less room
   * than buckets a pass asks only some; nothing is known to be left due only once a sweep over
   * every bucket came back short.
   */
  let sweep = 0;
  /** What the last pass claimed: the next one takes room for twice as many. */
  let lastClaimed = 0;
  /** slots.deferrals when the last pass started: one since means a transaction is due that it did not see. */
  let seenDeferrals = slots.deferrals;
  /**
   * Free slots that wake a starved poller early. A claim pass costs a script per bucket, so it
   * waits for a batch of free slots rather than claiming for each one that frees.
   */
  const wakeAt = Math.max(1, Math.min(CLAIM_BATCH, Math.floor(Math.min(slots.limit, config.pollerConcurrency) / 16)));

  /** Slots this poller may take now. */
  const room = (): number => Math.min(slots.free(), config.pollerConcurrency - inflight.size);

  /**
   * Claims what is due in every bucket, all buckets at once, and starts its rounds. The background
   * loop does not wait for the rounds (a slow branch must not hold up the other buckets); tick()
   * does. A bucket whose claim fails (its Redis master down) is skipped, not the whole pass.
   */
  async function pass(awaitRounds: boolean): Promise<PassResult> {
    seenDeferrals = slots.deferrals;
    // The slots are taken for the claim's whole round trip, during which API calls find them
    // taken and leave their transactions to the schedule; so take only what this pass may find:
    // a few per bucket, or twice what the last pass found (a draining backlog doubles its gulp).
    const n = Math.min(room(), Math.max(IDLE_SHARE * buckets, 2 * lastClaimed));
    if (n <= 0) {
      deps.onClaimed?.(0);
      return { claimed: 0, more: true };
    }
    // Start at a different bucket each pass, so processes spread their claims; a pass that asks
    // only some buckets is followed by one that asks the next ones.
    const first = nextBucket;
    nextBucket = (nextBucket + Math.max(1, Math.min(n, buckets) % buckets)) % buckets;
    // Take the slots before claiming: a claimed gid is leased, so it must have a slot at once,
    // whatever API rounds start while the claims are out.
    for (let i = 0; i < n; i++) slots.tryAcquire();
    const shares = shareRoom(n, buckets, first);
    const results = await Promise.allSettled(shares.map((s) => store.claimDue(s.bucket, lease, s.limit)));
    let claimed = 0;
    let filled = false;
    const failed: number[] = [];
    let firstError = '';
    const rounds: Promise<void>[] = [];
    results.forEach((r, i) => {
      const share = shares[i]!;
      if (r.status === 'rejected') {
        failed.push(share.bucket);
        if (firstError === '') firstError = (r.reason as Error).message;
        return;
      }
      const gids = r.value;
      claimed += gids.length;
      if (gids.length >= share.limit) filled = true;
      for (const gid of gids) {
        const p = engine.driveGid(gid).finally(() => {
          inflight.delete(p);
          // Its slot came free a moment ago, but counted against POLLER_CONCURRENCY until now.
          maybeWake();
        });
        inflight.add(p);
        rounds.push(p);
      }
    });
    for (let i = claimed; i < n; i++) slots.release();
    lastClaimed = claimed;
    sweep = filled ? 0 : Math.min(buckets, sweep + shares.length);
    const more = filled || sweep < buckets;
    if (failed.length > 0)
      log.warn({ buckets: failed, failed: failed.length, of: shares.length, err: firstError }, 'claim failed for some buckets; the others were claimed');
    deps.onClaimed?.(claimed);
    if (awaitRounds) await Promise.all(rounds);
    return { claimed, more };
  }

  /**
   * A starved poller (or one whose API callers left transactions to the schedule) claims again
   * as soon as enough slots free up, instead of idling until its next interval: a burst drains
   * at full speed.
   */
  function maybeWake(): void {
    if (wake !== undefined && (starved || slots.deferrals !== seenDeferrals) && room() >= wakeAt) wake();
  }
  slots.onChange(maybeWake);

  async function run(): Promise<void> {
    while (running) {
      let result: PassResult = { claimed: 0, more: false };
      try {
        result = await pass(false);
      } catch (err) {
        log.error({ err }, 'poller pass failed');
      }
      if (!running) break;
      starved = result.more;
      // More may be due, or API callers left rounds to the schedule during the pass: go again at
      // once, as DTM's cron does, unless every slot is taken.
      if ((result.more || slots.deferrals !== seenDeferrals) && room() > 0) continue;
      // Sleep the interval less a random part, so processes do not poll in lockstep.
      const ms = config.cronIntervalMs * (0.75 + Math.random() * 0.25);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    tick: async () => (await pass(true)).claimed,
    async stop() {
      running = false;
      wake?.();
      await loop;
      await Promise.all(inflight);
    },
  };
}
