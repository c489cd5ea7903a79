/**
 * `/api/metrics` under `--workers N`. Every process serves HTTP on the shared port, so whichever
 * one a scrape reaches must answer for the whole group, or successive scrapes would read
 * different processes and counters would jump back and forth. A worker forwards the scrape to
 * the primary over node:cluster's IPC channel; the primary asks every ready worker for its
 * snapshot, adds its own, and answers with the sum (metrics.ts renderSum).
 *
 * Counters never go backwards: a worker that exits leaves its counters and histograms behind, as
 * last seen by a scrape, and a worker that does not answer in time is counted as last seen.
 * (What a worker counted after the last scrape before it died is lost: an undercount, never a
 * decrease.)
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './log.js';
import { cumulativeOf, renderSum, sumCumulative, type Metrics, type MetricsSnapshot } from './metrics.js';

/** Answers a scrape with the text exposition. */
export type Exposition = () => Promise<string>;

/** The messages, all tagged `dtmMetrics` so they never mix with the supervisor's own. */
type MetricsMessage =
  | { dtmMetrics: 'collect'; id: number }
  | { dtmMetrics: 'snapshot'; id: number; snapshot?: MetricsSnapshot }
  | { dtmMetrics: 'scrape'; id: number }
  | { dtmMetrics: 'exposition'; id: number; text?: string; error?: string };

/** How long the primary waits for a worker's snapshot before counting it as last seen. */
const COLLECT_TIMEOUT_MS = 2000;
/** How long a worker waits for the primary's answer to a forwarded scrape. */
const SCRAPE_TIMEOUT_MS = 5000;
/** Retired snapshots kept apart before they are summed into one. */
const RETIRED_COMPACT_AT = 8;

function isMetricsMessage(m: unknown): m is MetricsMessage {
  return typeof m === 'object' && m !== null && typeof (m as { dtmMetrics?: unknown }).dtmMetrics === 'string';
}

/** In the primary: the group's sum, for its own scrapes and the ones its workers forward. */
export function primaryExposition(metrics: Metrics, log: Logger): Exposition {
  /** Workers that reported ready (their app, and so their responder, is up). */
  const ready = new Map<number, Worker>();
  /** Each live worker's latest snapshot. */
  const last = new Map<number, MetricsSnapshot>();
  /** The cumulative part of the workers that exited. Only appended to, or its prefix compacted. */
  const retired: MetricsSnapshot[] = [];
  /** Collects in flight, by request id: the worker asked, and how to settle. */
  const pending = new Map<number, { workerId: number; settle: (s: MetricsSnapshot | undefined) => void }>();
  let nextId = 0;
  let compacting = false;

  cluster.on('message', (worker: Worker, m: unknown) => {
    if (typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready === true) ready.set(worker.id, worker);
    if (!isMetricsMessage(m)) return;
    if (m.dtmMetrics === 'snapshot') {
      pending.get(m.id)?.settle(m.snapshot);
    } else if (m.dtmMetrics === 'scrape') {
      render().then(
        (text) => send(worker, { dtmMetrics: 'exposition', id: m.id, text }),
        (err: unknown) => send(worker, { dtmMetrics: 'exposition', id: m.id, error: (err as Error).message }),
      );
    }
  });

  cluster.on('exit', (worker: Worker) => {
    ready.delete(worker.id);
    const seen = last.get(worker.id);
    last.delete(worker.id);
    if (seen !== undefined) retired.push(cumulativeOf(seen));
    // A collect still waiting on it settles now with what was seen, as the retired entry was
    // pushed after that render took its copy of `retired`: counted once either way.
    for (const [, p] of pending) if (p.workerId === worker.id) p.settle(seen);
    void compact();
  });

  /** Sums the retired snapshots into one once there are many (a crash-looping worker). */
  async function compact(): Promise<void> {
    if (compacting || retired.length < RETIRED_COMPACT_AT) return;
    compacting = true;
    try {
      const n = retired.length;
      const merged = await sumCumulative(retired.slice(0, n));
      // Exits meanwhile appended after index n: only the prefix that was summed is replaced.
      retired.splice(0, n, merged);
    } finally {
      compacting = false;
    }
  }

  /** A worker's fresh snapshot; as last seen if it does not answer in time or exits meanwhile. */
  function collect(worker: Worker): Promise<MetricsSnapshot | undefined> {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.warn({ worker: worker.id, pid: worker.process.pid }, `worker did not send its metrics within ${COLLECT_TIMEOUT_MS} ms; counting it as last seen`);
        settle(undefined);
      }, COLLECT_TIMEOUT_MS);
      const settle = (snapshot: MetricsSnapshot | undefined): void => {
        clearTimeout(timer);
        pending.delete(id);
        if (snapshot !== undefined && ready.has(worker.id)) last.set(worker.id, snapshot);
        resolve(snapshot ?? last.get(worker.id));
      };
      pending.set(id, { workerId: worker.id, settle });
      if (!send(worker, { dtmMetrics: 'collect', id })) settle(undefined);
    });
  }

  async function render(): Promise<string> {
    // Taken together in one turn: a worker is either among the asked or among the retired.
    const gone = retired.slice();
    const asked = [...ready.values()].filter((w) => w.isConnected());
    const [own, ...workers] = await Promise.all([metrics.snapshot(), ...asked.map(collect)]);
    const all = [own, ...gone, ...workers].filter((s): s is MetricsSnapshot => s !== undefined);
    return renderSum(all);
  }

  return render;
}

/** In a worker: hands its snapshot to the primary on request, and forwards its scrapes there. */
export function workerExposition(metrics: Metrics): Exposition {
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let nextId = 0;

  process.on('message', (m: unknown) => {
    if (!isMetricsMessage(m)) return;
    if (m.dtmMetrics === 'collect') {
      metrics.snapshot().then(
        (snapshot) => process.send?.({ dtmMetrics: 'snapshot', id: m.id, snapshot } satisfies MetricsMessage),
        () => process.send?.({ dtmMetrics: 'snapshot', id: m.id } satisfies MetricsMessage),
      );
    } else if (m.dtmMetrics === 'exposition') {
      const w = waiting.get(m.id);
      if (w === undefined) return;
      if (m.text !== undefined) w.resolve(m.text);
      else w.reject(new Error(`[DTM_METRICS] the primary could not sum the group's metrics: ${m.error ?? 'no answer'}`));
    }
  });

  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(
        () => done(() => reject(new Error(`[DTM_METRICS] the primary did not answer a metrics scrape within ${SCRAPE_TIMEOUT_MS} ms`))),
        SCRAPE_TIMEOUT_MS,
      );
      const done = (then: () => void): void => {
        clearTimeout(timer);
        waiting.delete(id);
        then();
      };
      waiting.set(id, { resolve: (text) => done(() => resolve(text)), reject: (err) => done(() => reject(err)) });
      if (process.send === undefined || !process.connected) done(() => reject(new Error('[DTM_METRICS] the primary is gone')));
      else process.send({ dtmMetrics: 'scrape', id } satisfies MetricsMessage);
    });
}

/** Sends over a worker's channel; false when it is closed. */
function send(worker: Worker, m: MetricsMessage): boolean {
  if (!worker.isConnected()) return false;
  try {
    return worker.send(m);
  } catch {
    return false;
  }
}
