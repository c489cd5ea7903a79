/**
 * What a round has learnt about its branches and not yet written: status changes, and the
 * attempt records of branches whose calls failed (or succeeded after failing). They are written
 * together with the round's next write (see round.ts on write-behind).
 */
import type { BranchAttempt, BranchUpdate } from '../store/trans-scripts.js';
import type { BranchStatus } from '../types.js';

export interface PendingWrites {
  readonly empty: boolean;
  status(index: number, status: BranchStatus): void;
  attempt(record: BranchAttempt): void;
  /** Everything pending, for one write; pending is empty afterwards. */
  take(): { branchUpdates: BranchUpdate[]; attempts: BranchAttempt[] };
}

export function createPendingWrites(): PendingWrites {
  let updates: BranchUpdate[] = [];
  // The latest record per branch: a later call's supersedes an earlier one of the same round.
  let attempts = new Map<number, BranchAttempt>();
  return {
    get empty() {
      return updates.length === 0 && attempts.size === 0;
    },
    status(index, status) {
      updates.push([index, status]);
    },
    attempt(record) {
      attempts.set(record.index, record);
    },
    take() {
      const taken = { branchUpdates: updates, attempts: [...attempts.values()] };
      updates = [];
      attempts = new Map();
      return taken;
    },
  };
}
