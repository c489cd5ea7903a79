/**
 * The bound on processing rounds one process drives at once (MAX_INFLIGHT_ROUNDS), API-started
 * and poller-started alike. A round holds one slot from before its first write until it ends.
 * Under a burst, the rounds past the bound do not pile up as branch calls and memory: a caller
 * that does not wait leaves its (already persisted) transaction to the schedule, and a caller
 * that waits queues here, first come first served, ahead of the poller.
 */
export interface RoundSlots {
  /** The bound. */
  readonly limit: number;
  /** Slots held by rounds (running, or reserved for one about to run). */
  readonly inUse: number;
  /** Callers queued in acquire(). */
  readonly waiting: number;
  /** Transactions left to the schedule for want of a free slot, since the start (a counter). */
  readonly deferrals: number;
  /** Slots nobody holds or waits for: what the poller may take. */
  free(): number;
  /** Takes a slot if one is free and nobody queues for it; false otherwise. */
  tryAcquire(): boolean;
  /** Takes a slot, waiting in line for one when none is free. */
  acquire(): Promise<void>;
  /** Gives a slot back: to the first caller in line, else to the pool. */
  release(): void;
  /**
   * Records that a transaction was persisted due now for the poller because no slot was free
   * (call it once the write is acknowledged, so a poller woken by it finds the transaction).
   */
  defer(): void;
  /**
   * Calls `listener` whenever a released slot returns to the pool (no caller was in line) and
   * after each defer(), so that a poller can claim again at once instead of at its next
   * interval. Returns the unsubscribe function.
   */
  onChange(listener: () => void): () => void;
}

/** @param limit the bound (≥ 1). */
export function createRoundSlots(limit: number): RoundSlots {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`round slot limit must be a whole number ≥ 1, got ${limit}`);
  let inUse = 0;
  let deferrals = 0;
  // A FIFO of resolvers; `head` walks it so that taking the first is O(1) without shift().
  let line: (() => void)[] = [];
  let head = 0;
  const listeners = new Set<() => void>();

  return {
    limit,
    get inUse() {
      return inUse;
    },
    get waiting() {
      return line.length - head;
    },
    get deferrals() {
      return deferrals;
    },
    free: () => (line.length > head ? 0 : limit - inUse),
    tryAcquire() {
      if (inUse >= limit || line.length > head) return false;
      inUse++;
      return true;
    },
    acquire() {
      if (inUse < limit && line.length === head) {
        inUse++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => line.push(resolve));
    },
    release() {
      if (inUse <= 0) throw new Error('round slot released more often than acquired');
      if (line.length > head) {
        // Handed over: the slot stays in use, by the next caller in line.
        const next = line[head]!;
        head++;
        if (head === line.length) {
          line = [];
          head = 0;
        } else if (head > 1024 && head * 2 > line.length) {
          line = line.slice(head);
          head = 0;
        }
        next();
        return;
      }
      inUse--;
      for (const l of listeners) l();
    },
    defer() {
      deferrals++;
      for (const l of listeners) l();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
