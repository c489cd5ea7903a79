/**
 * The load driver, a child process of run.ts: a closed loop of `concurrency` virtual users, each
 * running one transaction at a time over a keep-alive undici Pool (one connection per user), with
 * a unique gid per transaction.
 *
 * IPC protocol (parent → driver): start, mark (the measurement window opens: counters and the
 * latency record restart), stop (the window closes; no new transactions; in-flight ones finish,
 * then the result is sent). Driver → parent: ready, tick (every second), result.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { FAIL_MARK, planFor, WORKLOADS, type WorkloadName } from './workloads.js';
import { percentile } from './lib/stats.js';
import type { DriverConfig, DriverResult, DriverTick, ParentMessage, SampleTx } from './lib/ipc.js';

const send = (m: unknown): void => {
  process.send?.(m);
};

function run(cfg: DriverConfig): void {
  const workload = WORKLOADS[cfg.workload as WorkloadName];
  const plan = planFor(workload.name, cfg.stubUrl);
  // The flash workloads buy from the business service (the stub's place), which calls the coordinator.
  const pool = new Pool(workload.sendTo === 'business' ? cfg.stubUrl : cfg.coordinatorUrl, {
    connections: cfg.concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const headers = { 'content-type': 'application/json' };

  let seq = 0;
  let stopping = false;
  let inflight = 0;
  // Whole run (warm-up included): what the end-state check must find in Redis.
  const total = { succeed: 0, failed: 0, errors: 0 };
  // The measurement window.
  let windowOpen = false;
  let windowStart = 0;
  let windowEnd = 0;
  let win = { done: 0, succeed: 0, failed: 0, errors: 0 };
  let lat = new Float64Array(1 << 16);
  let latN = 0;
  // The current second, for the progress line.
  let tick = { done: 0, errors: 0, lat: [] as number[] };
  const errorSamples: string[] = [];
  // Reservoir sample of finished transactions (warm-up included) for the end-state query check.
  const sample: SampleTx[] = [];
  let finishedSeen = 0;

  const noteError = (msg: string): void => {
    total.errors++;
    if (windowOpen) win.errors++;
    tick.errors++;
    if (errorSamples.length < 8) errorSamples.push(msg);
  };

  const markFail = (n: number): boolean => workload.failRate > 0 && Math.floor((n + 1) * workload.failRate) !== Math.floor(n * workload.failRate);

  async function oneTx(): Promise<void> {
    const n = seq++;
    const shouldFail = markFail(n);
    const gid = `${cfg.runId}-${n}${shouldFail ? FAIL_MARK : ''}`;
    const started = performance.now();
    const reqs = plan(gid);
    let finalStatus = 0;
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      const get = r.method === 'GET';
      const res = await pool.request(get ? { path: r.path, method: 'GET' } : { path: r.path, method: 'POST', body: r.body, headers });
      finalStatus = res.statusCode;
      const last = i === reqs.length - 1;
      const expected = last && shouldFail ? 409 : 200;
      // A sold-out answer (flash workloads) is an outcome, not an error.
      const outcomeConflict = last && workload.conflictIsOutcome === true && res.statusCode === 409;
      if (res.statusCode !== expected && !outcomeConflict) {
        const text = await res.body.text();
        noteError(`${r.path} ${gid}: HTTP ${res.statusCode} (expected ${expected}) ${text.slice(0, 200)}`);
        return;
      }
      await res.body.dump();
    }
    const ms = performance.now() - started;
    const outcome: 'succeed' | 'failed' = finalStatus === 200 ? 'succeed' : 'failed';
    total[outcome]++;
    if (windowOpen) {
      win.done++;
      win[outcome]++;
      if (latN === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[latN++] = ms;
    }
    tick.done++;
    tick.lat.push(ms);
    finishedSeen++;
    if (sample.length < cfg.sampleSize) sample.push({ gid, expect: outcome });
    else {
      const j = Math.floor(Math.random() * finishedSeen);
      if (j < cfg.sampleSize) sample[j] = { gid, expect: outcome };
    }
  }

  async function user(): Promise<void> {
    inflight++;
    try {
      while (!stopping) {
        try {
          await oneTx();
        } catch (err) {
          noteError(`request failed: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      inflight--;
    }
  }

  const t0 = performance.now();
  const ticker = setInterval(() => {
    const sorted = tick.lat.sort((a, b) => a - b);
    const m: DriverTick = {
      type: 'tick',
      elapsedS: (performance.now() - t0) / 1000,
      done: tick.done,
      errors: tick.errors,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      inflight,
    };
    tick = { done: 0, errors: 0, lat: [] };
    send(m);
  }, 1000);

  process.on('message', (raw: unknown) => {
    const m = raw as ParentMessage;
    if (m.type === 'mark') {
      windowOpen = true;
      windowStart = performance.now();
      win = { done: 0, succeed: 0, failed: 0, errors: 0 };
      latN = 0;
    } else if (m.type === 'stop') {
      windowEnd = performance.now();
      windowOpen = false;
      stopping = true;
      const deadline = Date.now() + 15_000;
      const finish = (): void => {
        if (inflight > 0 && Date.now() < deadline) {
          setTimeout(finish, 5);
          return;
        }
        clearInterval(ticker);
        const sorted = lat.subarray(0, latN).sort();
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
            max: latN > 0 ? sorted[latN - 1]! : 0,
            mean: latN > 0 ? sorted.reduce((a, b) => a + b, 0) / latN : 0,
          },
          errorSamples,
          sample,
          issued: seq,
        };
        send(result);
        void pool.close().finally(() => process.exit(0));
      };
      finish();
    }
  });

  for (let i = 0; i < cfg.concurrency; i++) void user();
}

process.once('message', (raw: unknown) => {
  const m = raw as ParentMessage;
  if (m.type !== 'start') throw new Error(`driver: expected start, got ${m.type}`);
  run(m.config);
});
send({ type: 'ready' });
