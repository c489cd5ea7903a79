/**
 * The cron poller: every TRANS_CRON_INTERVAL it claims the due transactions of every bucket
 * (atomically, with a lease, so no other process takes them meanwhile) and drives each one round,
 * with bounded concurrency. Any number of processes may poll the same Redis.
 */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import type { Engine } from './trans/engine.js';
import { leaseMs } from './trans/schedule.js';

export interface Poller {
  /** Starts the background loop. */
  start(): void;
  /** One pass over every bucket; resolves when the claimed rounds are done. Returns the number claimed. */
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
const CLAIM_BATCH = 100;

export function createPoller(deps: PollerDeps): Poller {
  const { store, engine, config, log } = deps;
  const buckets = store.keys.buckets;
  const lease = leaseMs(config);
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let nextBucket = Math.floor(Math.random() * buckets);
  const inflight = new Set<Promise<void>>();

  /**
   * Claims what is due in every bucket and starts its rounds. The background loop does not wait
   * for the rounds (a slow branch must not hold up the other buckets); tick() does.
   */
  async function pass(awaitRounds: boolean): Promise<number> {
    let claimed = 0;
    const rounds: Promise<void>[] = [];
    // Start at a different bucket each pass, so processes spread their claims.
    const first = nextBucket;
    nextBucket = (nextBucket + 1) % buckets;
    for (let k = 0; k < buckets; k++) {
      const bucket = (first + k) % buckets;
      const room = config.pollerConcurrency - inflight.size;
      if (room <= 0) break;
      let gids: string[];
      try {
        gids = await store.claimDue(bucket, lease, Math.min(CLAIM_BATCH, room));
      } catch (err) {
        log.warn({ bucket, err: (err as Error).message }, 'claim failed');
        break;
      }
      claimed += gids.length;
      for (const gid of gids) {
        const p = engine.driveGid(gid).finally(() => inflight.delete(p));
        inflight.add(p);
        rounds.push(p);
      }
    }
    deps.onClaimed?.(claimed);
    if (awaitRounds) await Promise.all(rounds);
    return claimed;
  }

  async function run(): Promise<void> {
    while (running) {
      let found = 0;
      try {
        found = await pass(false);
      } catch (err) {
        log.error({ err }, 'poller pass failed');
      }
      if (!running) break;
      // More may be due: go again at once, as DTM's cron does, unless every slot is taken.
      if (found > 0 && inflight.size < config.pollerConcurrency) continue;
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
    tick: () => pass(true),
    async stop() {
      running = false;
      wake?.();
      await loop;
      await Promise.all(inflight);
    },
  };
}
