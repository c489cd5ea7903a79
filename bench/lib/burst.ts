/**
 * The burst workload (issue 15 item 3): a flash sale's traffic shape. The sustainable rate is
 * --rate, or measured first with a short closed-loop saga-e2e probe on the same coordinator; then
 * an open loop offers `submit` sagas (wait_result=false, 2 branch calls on the stub) at
 * --burst-factor × that rate for --duration s, then nothing. It reports the acknowledgement
 * latency (from each transaction's scheduled start), errors, the drain (from the end of the burst
 * until no transaction is scheduled and every one is final), the coordinator's peak RSS, Redis's
 * peak used_memory, and that every transaction finished.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Keys } from '../../src/store/keys.js';
import type { Options } from './args.js';
import { say, sleep, stopChild } from './children.js';
import type { Coordinator } from './coordinator.js';
import { forkDriver, startDriver, type CpuMeter } from './driver-proc.js';
import { answeredGids, checkByQuery, checkEndState, dueCount, recordsByStatus, type EndState } from './end-state.js';
import type { DriverConfig, DriverResult } from './ipc.js';
import { sampleMemory, type MemoryPeaks } from './memory.js';
import { statusBytes } from './proc.js';
import { snapshot } from './redis-info.js';
import type { Mark, RunFacts } from './result.js';
import type { BusinessService } from './services.js';
import { round } from './stats.js';
import type { ChildProcess } from 'node:child_process';

/** The closed-loop probe that measures the sustainable rate when --rate is not given. */
export const PROBE = { workload: 'saga-e2e', warmupS: 1, seconds: 3 } as const;

export interface BurstReport {
  sustainable_rate_tx_per_s: number;
  /** `--rate`, or the probe: `saga-e2e closed loop, c=50, 3 s`. */
  rate_source: string;
  probe: { tx_per_s: number; p50_ms: number; p99_ms: number; errors: number } | null;
  burst_factor: number;
  /** The rate the open loop was asked to offer, and the rate it started transactions at. */
  offered_rate_tx_per_s: number;
  started_rate_tx_per_s: number;
  duration_s: number;
  connections: number;
  issued: number;
  acknowledged: number;
  errors: number;
  /** From each transaction's scheduled start to its acknowledgement (so driver queueing counts). */
  ack_latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** How late the driver started transactions against the schedule (its own lag, not the server's). */
  start_lag_ms: { p99: number; max: number } | null;
  /** When the last acknowledgement came, in s after the end of the burst. */
  last_ack_after_burst_s: number;
  /** Due ZSET sizes (transactions scheduled, not finished) when the burst ended; null when external. */
  backlog_at_burst_end: number | null;
  /** From the end of the burst until no transaction is scheduled and every one is final. */
  drain_s: number;
  /** Every transaction finished within the drain deadline. */
  all_finished: boolean;
  /** Transactions (probe included) by final status, as read at the end. */
  finished_by_status: Record<string, number>;
  /** Finished transactions ÷ (burst + drain time): the rate the burst was worked off at. */
  worked_off_tx_per_s: number;
  memory: MemoryPeaks;
}

export interface BurstArgs {
  cfg: DriverConfig;
  /** The forked driver for the burst (the probe gets its own). */
  child: ChildProcess;
  meter: CpuMeter;
  tag: string;
  opts: Options;
  admin: Redis;
  keys: Keys;
  coordinator: Coordinator;
  stub: BusinessService;
  drainS: number;
}

type Facts = Pick<RunFacts, 'after' | 's0' | 's1' | 'tx' | 'seconds' | 'result' | 'stub' | 'end' | 'flashEnd' | 'backlog' | 'drainS'>;

/** A closed-loop saga-e2e for PROBE.seconds: the rate the coordinator sustains with its branch calls. */
async function probe(a: BurstArgs): Promise<DriverResult> {
  const child = await forkDriver();
  try {
    const d = startDriver(child, { ...a.cfg, workload: PROBE.workload, runId: `${a.cfg.runId}-probe`, trackAll: false }, `${a.tag} probe`, a.meter);
    await sleep(PROBE.warmupS * 1000);
    d.mark();
    d.phase = 'measure';
    await sleep(PROBE.seconds * 1000);
    return await d.stop();
  } finally {
    await stopChild(child, 3000);
  }
}

const mb = (b: number | null): string => (b === null ? '?' : `${(b / 1048576).toFixed(0)} MB`);

export async function runBurst(a: BurstArgs): Promise<{ facts: Facts; report: BurstReport }> {
  const { opts, tag, admin, keys, coordinator } = a;
  let rate = opts.rate;
  let probeResult: DriverResult | undefined;
  if (rate === undefined) {
    say(`${tag} measuring the sustainable rate: ${PROBE.workload}, closed loop, c=${opts.concurrency}, ${PROBE.seconds} s`);
    probeResult = await probe(a);
    rate = Math.max(1, probeResult.window.done / probeResult.windowS);
    // The probe's sagas answered when finished; let any write-behind settle before the burst.
    for (const until = Date.now() + 10_000; !coordinator.external && (await dueCount(admin, keys)) > 0 && Date.now() < until;) await sleep(50);
  }
  const offered = rate * opts.burstFactor;
  say(
    `${tag} sustainable rate ${Math.round(rate)} tx/s (${opts.rate !== undefined ? '--rate' : 'probe'}); offering ${Math.round(offered)} tx/s for ${opts.durationS} s over up to ${opts.connections} connections`,
  );

  const d = startDriver(a.child, { ...a.cfg, open: { rate: offered, connections: opts.connections } }, tag, a.meter);
  const memory = sampleMemory(() => coordinator.pids(), admin);
  const s0: Mark = { t: performance.now(), info: await snapshot(admin), cpu: a.meter.now() };
  d.mark();
  d.phase = 'burst';
  await sleep(opts.durationS * 1000);
  const burstEnd = performance.now();
  const backlogAtEnd = coordinator.external ? null : await dueCount(admin, keys);
  const resultP = d.stop(700_000);
  d.phase = 'acks';
  const burstResult = await resultP;

  // The whole run's totals (probe included) for the end-state counts.
  const result: DriverResult = probeResult === undefined ? burstResult : mergeProbe(burstResult, probeResult);
  const deadline = Date.now() + a.drainS * 1000;
  let end: EndState;
  let allFinished: boolean;
  let drainS: number;
  let records: Record<string, number>;
  if (coordinator.external) {
    say(`${tag} reading every acknowledged gid back through ${coordinator.url}/api/dtmsvr/query until final…`);
    const txs = [...answeredGids(burstResult, a.cfg.runId, 0), ...(probeResult?.sample ?? [])];
    const q = await checkByQuery(coordinator.url, txs, result, deadline);
    end = q.end;
    drainS = (performance.now() - burstEnd) / 1000;
    records = q.end.records;
    allFinished = Object.entries(records).every(([k, n]) => n === 0 || k === 'succeed' || k === 'failed');
  } else {
    let lastSay = 0;
    for (;;) {
      const due = await dueCount(admin, keys);
      if (due === 0) {
        records = await recordsByStatus(admin, keys);
        if (Object.keys(records).every((k) => k === 'succeed' || k === 'failed')) {
          allFinished = true;
          break;
        }
      }
      if (Date.now() > deadline) {
        records = await recordsByStatus(admin, keys);
        allFinished = false;
        break;
      }
      if (performance.now() - lastSay > 2000) {
        lastSay = performance.now();
        const rss = coordinator.pids().reduce((s, p) => s + statusBytes(p, 'VmRSS'), 0);
        say(`${tag} drain   ${((performance.now() - burstEnd) / 1000).toFixed(0).padStart(3)} s  scheduled ${due}  coordinator RSS ${mb(rss)}`);
      }
      await sleep(100);
    }
    drainS = (performance.now() - burstEnd) / 1000;
    say(
      `${tag} ${allFinished ? 'every transaction finished' : 'NOT every transaction finished'} ${drainS.toFixed(1)} s after the burst; checking the end state…`,
    );
    end = await checkEndState(admin, keys, coordinator.url, result);
  }
  const s1: Mark = { t: performance.now(), info: await snapshot(admin), cpu: a.meter.now() };
  const peaks = await memory.stop();
  if (coordinator.external) {
    // The bench Redis is not the external coordinator's store.
    peaks.redis_used_memory_peak_bytes = null;
    peaks.redis_used_memory_start_bytes = null;
  }
  const after = await snapshot(admin);
  const stub = await a.stub.stats();
  const acked = burstResult.total.succeed + burstResult.total.failed;
  const finished = (records['succeed'] ?? 0) + (records['failed'] ?? 0);
  const seconds = burstResult.windowS + drainS;
  const report: BurstReport = {
    sustainable_rate_tx_per_s: round(rate, 0),
    rate_source: opts.rate !== undefined ? '--rate' : `probe: ${PROBE.workload} closed loop, c=${opts.concurrency}, ${PROBE.seconds} s`,
    probe:
      probeResult === undefined
        ? null
        : {
            tx_per_s: round(probeResult.window.done / probeResult.windowS, 0),
            p50_ms: round(probeResult.latencyMs.p50),
            p99_ms: round(probeResult.latencyMs.p99),
            errors: probeResult.window.errors,
          },
    burst_factor: opts.burstFactor,
    offered_rate_tx_per_s: round(offered, 0),
    started_rate_tx_per_s: round(burstResult.issued / burstResult.windowS, 0),
    duration_s: opts.durationS,
    connections: opts.connections,
    issued: burstResult.issued,
    acknowledged: acked,
    errors: burstResult.total.errors,
    ack_latency_ms: {
      p50: round(burstResult.latencyMs.p50),
      p90: round(burstResult.latencyMs.p90),
      p99: round(burstResult.latencyMs.p99),
      p999: round(burstResult.latencyMs.p999),
      max: round(burstResult.latencyMs.max),
      mean: round(burstResult.latencyMs.mean),
    },
    start_lag_ms: burstResult.startLagMs === undefined ? null : { p99: round(burstResult.startLagMs.p99), max: round(burstResult.startLagMs.max) },
    last_ack_after_burst_s: round(Math.max(0, (burstResult.lastAnswerS ?? 0) - burstResult.windowS)),
    backlog_at_burst_end: backlogAtEnd,
    drain_s: round(drainS),
    all_finished: allFinished,
    finished_by_status: records,
    worked_off_tx_per_s: round(finished / seconds, 0),
    memory: peaks,
  };
  say(
    `${tag} acks p50 ${report.ack_latency_ms.p50} ms p99 ${report.ack_latency_ms.p99} ms max ${report.ack_latency_ms.max} ms, errors ${report.errors}; ` +
      `drain ${report.drain_s} s; coordinator peak RSS ${mb(peaks.coordinator_rss_peak_bytes)} (VmHWM ${mb(peaks.coordinator_vmhwm_bytes)}); Redis peak ${mb(peaks.redis_used_memory_peak_bytes)}`,
  );
  return {
    facts: { after, s0, s1, tx: acked, seconds, result, stub, end: { ...end, ok: end.ok && allFinished }, flashEnd: undefined, backlog: backlogAtEnd, drainS },
    report,
  };
}

/** The burst's result with the probe's transactions added to the totals and the sample. */
function mergeProbe(burst: DriverResult, probeResult: DriverResult): DriverResult {
  return {
    ...burst,
    total: {
      succeed: burst.total.succeed + probeResult.total.succeed,
      failed: burst.total.failed + probeResult.total.failed,
      errors: burst.total.errors + probeResult.total.errors,
    },
    sample: [...burst.sample, ...probeResult.sample.slice(0, 32)],
  };
}
