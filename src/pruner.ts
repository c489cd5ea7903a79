/**
 * Keeps the listing indexes (`{p:b}:idx`, which `/all` pages) as small as the records they
 * list: every INDEX_PRUNE_INTERVAL it drops, bucket by bucket, the finished transactions whose
 * record has expired. Each script call does bounded work (pruneIndex's limit) and a bucket is
 * pruned again at once while it has more, so cleanup keeps pace with any finish rate. Every
 * process prunes; two pruning the same bucket only find less to do.
 */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';

export interface Pruner {
  start(): void;
  /** One pass over every bucket; resolves with the number of index entries dropped. */
  tick(): Promise<number>;
  stop(): Promise<void>;
}

/** Index entries one pruneIndex call drops at most. */
const PRUNE_BATCH = 1000;

export function createPruner(deps: { store: Store; config: Pick<Config, 'indexPruneIntervalMs'>; log: Logger }): Pruner {
  const { store, config, log } = deps;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<number> | undefined;

  async function prune(): Promise<number> {
    let removed = 0;
    for (let b = 0; b < store.keys.buckets; b++) {
      for (;;) {
        let r: { removed: number; more: boolean };
        try {
          r = await store.pruneIndex(b, PRUNE_BATCH);
        } catch (err) {
          log.warn({ bucket: b, err: (err as Error).message }, 'index prune failed; the next pass retries');
          return removed;
        }
        removed += r.removed;
        if (!r.more) break;
      }
    }
    return removed;
  }

  /** Runs a pass unless one is running (a slow Redis must not stack them up). */
  function tick(): Promise<number> {
    pass ??= prune().finally(() => {
      pass = undefined;
    });
    return pass;
  }

  return {
    start() {
      timer ??= setInterval(() => void tick(), config.indexPruneIntervalMs);
      timer.unref();
    },
    tick,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await pass;
    },
  };
}
