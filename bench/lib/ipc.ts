/** Messages between the orchestrator (run.ts) and its driver and stub child processes. */

export interface DriverConfig {
  workload: string;
  /** http://127.0.0.1:port of the coordinator. */
  coordinatorUrl: string;
  /** http://127.0.0.1:port of the stub business service. */
  stubUrl: string;
  concurrency: number;
  /** Prefix of every gid of this run. */
  runId: string;
  /** How many finished gids to keep for the end-state query check. */
  sampleSize: number;
}

export type ParentMessage = { type: 'start'; config: DriverConfig } | { type: 'mark' } | { type: 'stop' };

export interface DriverTick {
  type: 'tick';
  elapsedS: number;
  /** Transactions finished in the last second. */
  done: number;
  errors: number;
  p50: number;
  p99: number;
  inflight: number;
}

export interface SampleTx {
  gid: string;
  /** The final status the coordinator's answer implies. */
  expect: 'succeed' | 'failed';
}

export interface DriverResult {
  type: 'result';
  windowS: number;
  window: { done: number; succeed: number; failed: number; errors: number };
  /** Whole run, warm-up and the tail after stop included. */
  total: { succeed: number; failed: number; errors: number };
  stillInflight: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errorSamples: string[];
  sample: SampleTx[];
  /** Transactions started (gids used). */
  issued: number;
}

export interface StubStats {
  type: 'stats';
  calls: Record<string, number>;
}
