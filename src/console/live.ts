/** Polls the live counters once a second and keeps their history for the sparklines. */
import { useEffect, useState } from 'preact/hooks';
import type { LiveStats } from '../http/console-wire.js';
import { call } from './api.js';
import { push } from './logic/series.js';

const POLL_MS = 1000;

export interface LiveHistory {
  submits: number[];
  rounds_ok: number[];
  rounds_failed: number[];
  branch_calls: number[];
  branch_failures: number[];
  request_errors: number[];
  prepared: number[];
  submitted: number[];
  aborting: number[];
  oldest_due_s: number[];
}

const EMPTY: LiveHistory = {
  submits: [],
  rounds_ok: [],
  rounds_failed: [],
  branch_calls: [],
  branch_failures: [],
  request_errors: [],
  prepared: [],
  submitted: [],
  aborting: [],
  oldest_due_s: [],
};

/** The history with one more sample. */
function record(h: LiveHistory, s: LiveStats): LiveHistory {
  return {
    submits: push(h.submits, s.rates.submits),
    rounds_ok: push(h.rounds_ok, s.rates.rounds_ok),
    rounds_failed: push(h.rounds_failed, s.rates.rounds_failed),
    branch_calls: push(h.branch_calls, s.rates.branch_calls),
    branch_failures: push(h.branch_failures, s.rates.branch_failures),
    request_errors: push(h.request_errors, s.rates.request_errors),
    prepared: push(h.prepared, s.backlog.prepared),
    submitted: push(h.submitted, s.backlog.submitted),
    aborting: push(h.aborting, s.backlog.aborting),
    oldest_due_s: push(h.oldest_due_s, (s.oldest_due_age_ms ?? 0) / 1000),
  };
}

export function useLiveStats(enabled: boolean): { stats: LiveStats | undefined; history: LiveHistory; error: string } {
  const [stats, setStats] = useState<LiveStats | undefined>();
  const [history, setHistory] = useState<LiveHistory>(EMPTY);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async (): Promise<void> => {
      // A hidden tab skips its polls (and so its share of the backlog reads) until it is shown again.
      if (document.hidden) {
        timer = setTimeout(() => void tick(), POLL_MS);
        return;
      }
      try {
        const s = await call<LiveStats>('/api/admin/stats');
        if (stopped) return;
        setStats(s);
        // The first sample has no rates yet (nothing to compare with): it only starts the history.
        if (s.window_s > 0) setHistory((h) => record(h, s));
        setError('');
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      }
      if (!stopped) timer = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [enabled]);
  return { stats, history, error };
}
