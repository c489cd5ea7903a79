/**
 * The load driver, a child process of run.ts. Two ways to offer load:
 * - closed loop (every workload but burst): `concurrency` virtual users, each running one
 *   transaction at a time (one keep-alive connection each), so the rate settles where the system
 *   answers;
 * - open loop (burst): transactions start on a fixed schedule, `rate` a second, whatever the
 *   answers' latency, over up to `connections` sockets; beyond those the requests queue in the
 *   driver, and the latency counts from the scheduled start, so overload shows as latency
 *   (no coordinated omission).
 * Every transaction has a unique gid `${runId}-${seq}`.
 *
 * IPC protocol (parent → driver): start, mark (the measurement window opens: counters and the
 * latency record restart), stop (the window closes; no new transactions; in-flight ones finish,
 * then the result is sent). Driver → parent: ready, tick (every second), result.
 */
import { performance } from 'node:perf_hooks';
import { FAIL_MARK, WORKLOADS, type WorkloadName } from './workloads.js';
import { percentile } from './lib/stats.js';
import { OUTCOME, type DriverConfig, type DriverResult, type DriverTick, type ParentMessage, type SampleTx } from './lib/ipc.js';
import { txRunner, type TxOutcome } from './lib/tx.js';

const send = (m: unknown): void => {
  process.send?.(m);
};

/** A growable array of float64 (latencies). */
function growable(): { push(x: number): void; sorted(): Float64Array; reset(): void } {
  let a = new Float64Array(1 << 16);
  let n = 0;
  return {
    push(x) {
      if (n === a.length) {
        const bigger = new Float64Array(a.length * 2);
        bigger.set(a);
        a = bigger;
      }
      a[n++] = x;
    },
    sorted: () => a.subarray(0, n).sort(),
    reset() {
      n = 0;
    },
  };
}

function run(cfg: DriverConfig): void {
  const workload = WORKLOADS[cfg.workload as WorkloadName];
  const open = cfg.open;
  const tx = txRunner(cfg, open?.connections ?? cfg.concurrency);

  let seq = 0;
  let stopping = false;
  let inflight = 0;
  // Whole run (warm-up included): what the end-state check must find in Redis.
  const total = { succeed: 0, failed: 0, errors: 0 };
  // The measurement window.
  let windowOpen = false;
  let windowStart = 0;
  let windowEnd = 0;
  let lastAnswer = 0;
  let win = { done: 0, succeed: 0, failed: 0, errors: 0 };
  const lat = growable();
  const lag = growable();
  // The current second, for the progress line.
  let tick = { done: 0, started: 0, errors: 0, lat: [] as number[] };
  const errorSamples: string[] = [];
  // Reservoir sample of finished transactions (warm-up included) for the end-state query check.
  const sample: SampleTx[] = [];
  let finishedSeen = 0;
  // One OUTCOME byte per seq, when every gid is to be read back.
  let outcomes = new Uint8Array(cfg.trackAll === true ? 1 << 16 : 0);
  const setOutcome = (n: number, o: number): void => {
    if (cfg.trackAll !== true) return;
    if (n >= outcomes.length) {
      const bigger = new Uint8Array(Math.max(outcomes.length * 2, n + 1));
      bigger.set(outcomes);
      outcomes = bigger;
    }
    outcomes[n] = o;
  };

  const noteError = (n: number, msg: string, inWindow: boolean): void => {
    total.errors++;
    if (inWindow) win.errors++;
    tick.errors++;
    setOutcome(n, OUTCOME.error);
    if (errorSamples.length < 8) errorSamples.push(msg);
  };

  const markFail = (n: number): boolean => workload.failRate > 0 && Math.floor((n + 1) * workload.failRate) !== Math.floor(n * workload.failRate);

  const noteDone = (n: number, gid: string, outcome: TxOutcome, ms: number, inWindow: boolean): void => {
    total[outcome]++;
    setOutcome(n, outcome === 'succeed' ? OUTCOME.succeed : OUTCOME.failed);
    if (inWindow) {
      win.done++;
      win[outcome]++;
      lat.push(ms);
    }
    tick.done++;
    tick.lat.push(ms);
    finishedSeen++;
    if (sample.length < cfg.sampleSize) sample.push({ gid, expect: outcome });
    else {
      const j = Math.floor(Math.random() * finishedSeen);
      if (j < cfg.sampleSize) sample[j] = { gid, expect: outcome };
    }
  };

  /**
   * Runs transaction `n`; latency from `scheduled` (performance.now() ms). A closed loop counts it
   * in the window if it finishes while the window is open, an open loop if it started in it.
   */
  async function oneTx(n: number, scheduled: number, startedInWindow: boolean): Promise<void> {
    const shouldFail = markFail(n);
    const gid = `${cfg.runId}-${n}${shouldFail ? FAIL_MARK : ''}`;
    tick.started++;
    inflight++;
    try {
      const outcome = await tx.run(gid, shouldFail);
      const now = performance.now();
      lastAnswer = now;
      noteDone(n, gid, outcome, now - scheduled, open !== undefined ? startedInWindow : windowOpen);
    } catch (err) {
      lastAnswer = performance.now();
      noteError(
        n,
        (err as Error).name === 'TxError' ? (err as Error).message : `request failed: ${(err as Error).message}`,
        open !== undefined ? startedInWindow : windowOpen,
      );
      if (open === undefined) await new Promise((r) => setTimeout(r, 10));
    } finally {
      inflight--;
    }
  }

  async function user(): Promise<void> {
    while (!stopping) await oneTx(seq++, performance.now(), false);
  }

  /** The open loop's scheduler: starts every transaction whose time has come, then yields. */
  function pump(rate: number, t0: number): void {
    if (stopping) return;
    const now = performance.now();
    const due = Math.floor(((now - t0) / 1000) * rate);
    // A bounded batch per turn, so that answers and ticks are not starved when the driver lags.
    for (let k = 0; seq < due && k < 2000; k++) {
      const n = seq++;
      const scheduled = t0 + (n / rate) * 1000;
      lag.push(now - scheduled);
      void oneTx(n, scheduled, windowOpen);
    }
    if (seq < due) setImmediate(pump, rate, t0);
    else setTimeout(pump, Math.max(1, Math.min(20, ((seq + 1) / rate) * 1000 - (now - t0))), rate, t0);
  }

  const t0 = performance.now();
  const ticker = setInterval(() => {
    const sorted = tick.lat.sort((a, b) => a - b);
    const m: DriverTick = {
      type: 'tick',
      elapsedS: (performance.now() - t0) / 1000,
      done: tick.done,
      started: tick.started,
      errors: tick.errors,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      inflight,
    };
    tick = { done: 0, started: 0, errors: 0, lat: [] };
    send(m);
  }, 1000);

  process.on('message', (raw: unknown) => {
    const m = raw as ParentMessage;
    if (m.type === 'mark') {
      windowOpen = true;
      windowStart = performance.now();
      win = { done: 0, succeed: 0, failed: 0, errors: 0 };
      lat.reset();
      if (open !== undefined) pump(open.rate, windowStart);
    } else if (m.type === 'stop') {
      windowEnd = performance.now();
      windowOpen = false;
      stopping = true;
      // An open loop may leave a long queue behind an overloaded server: its answers are the point.
      const deadline = Date.now() + (open !== undefined ? 600_000 : 15_000);
      const finish = (): void => {
        if (inflight > 0 && Date.now() < deadline) {
          setTimeout(finish, 5);
          return;
        }
        clearInterval(ticker);
        const sorted = lat.sorted();
        const n = sorted.length;
        const seconds = (windowEnd - windowStart) / 1000;
        const result: DriverResult = {
          type: 'result',
          windowS: seconds,
          window: win,
          total,
          stillInflight: inflight,
          latencyMs: {
            p50: percentile(sorted, 0.5),
            p90: percentile(sorted, 0.9),
            p99: percentile(sorted, 0.99),
            p999: percentile(sorted, 0.999),
            max: n > 0 ? sorted[n - 1]! : 0,
            mean: n > 0 ? sorted.reduce((a, b) => a + b, 0) / n : 0,
          },
          errorSamples,
          sample,
          issued: seq,
        };
        if (open !== undefined) {
          const lags = lag.sorted();
          result.startLagMs = { p99: percentile(lags, 0.99), max: lags.length > 0 ? lags[lags.length - 1]! : 0 };
          result.lastAnswerS = (lastAnswer - windowStart) / 1000;
        }
        if (cfg.trackAll === true) {
          const all = new Uint8Array(seq);
          all.set(outcomes.subarray(0, Math.min(seq, outcomes.length)));
          result.outcomes = Buffer.from(all).toString('base64');
        }
        send(result);
        void tx.close().finally(() => process.exit(0));
      };
      finish();
    }
  });

  if (open === undefined) for (let i = 0; i < cfg.concurrency; i++) void user();
}

process.once('message', (raw: unknown) => {
  const m = raw as ParentMessage;
  if (m.type !== 'start') throw new Error(`driver: expected start, got ${m.type}`);
  run(m.config);
});
send({ type: 'ready' });
