/** Messages between the orchestrator (run.ts) and its driver and stub child processes. */

export interface DriverConfig {
  workload: string;
  /** http://host:port of the coordinator (ours, or --dtm-url). */
  coordinatorUrl: string;
  /** host:port of the coordinator's gRPC API (grpc-saga). */
  grpcAddress?: string;
  /** http://127.0.0.1:port of the stub business service, or host:port of the gRPC stub (grpc-saga). */
  stubUrl: string;
  /** Closed loop: the virtual users. */
  concurrency: number;
  /** Prefix of every gid of this run: gid = `${runId}-${seq}` (plus the fail mark). */
  runId: string;
  /** How many finished gids to keep for the end-state query check. */
  sampleSize: number;
  /** Open loop: transactions started per second, and the most connections (requests in flight on the wire). */
  open?: { rate: number; connections: number };
  /** Send the outcome of every seq with the result (to read every gid back). */
  trackAll?: boolean;
}

export type ParentMessage = { type: 'start'; config: DriverConfig } | { type: 'mark' } | { type: 'stop' };

export interface DriverTick {
  type: 'tick';
  elapsedS: number;
  /** Transactions finished in the last second. */
  done: number;
  /** Transactions started in the last second (the offered load of an open loop). */
  started: number;
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

/** Outcome codes of `DriverResult.outcomes`, one byte per seq. */
export const OUTCOME = { pending: 0, succeed: 1, failed: 2, error: 3 } as const;

export interface DriverResult {
  type: 'result';
  windowS: number;
  window: { done: number; succeed: number; failed: number; errors: number };
  /** Whole run, warm-up and the tail after stop included. */
  total: { succeed: number; failed: number; errors: number };
  stillInflight: number;
  /**
   * Closed loop: latency of the transactions finished in the window. Open loop: of every
   * transaction started in the window, from its scheduled start (so queueing in the driver counts,
   * as a user would see it), whenever its answer came.
   */
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Open loop: how late the driver started transactions against the schedule (ms), max and p99. */
  startLagMs?: { p99: number; max: number };
  /** Open loop: when the last answer came, in s from the window's start. */
  lastAnswerS?: number;
  errorSamples: string[];
  sample: SampleTx[];
  /** Transactions started (gids used): seq 0 … issued-1. */
  issued: number;
  /** With trackAll: base64 of one OUTCOME byte per seq. */
  outcomes?: string;
}

export interface StubStats {
  type: 'stats';
  calls: Record<string, number>;
}
