/**
 * The end-state checks after a run, and the drain before them:
 * - ours (the harness knows the store): a sample read back through /api/dtmsvr/query, the retry
 *   schedules (due ZSETs), and every record of the index counted by status against the driver;
 * - an external coordinator: only its API, /api/dtmsvr/query, for a sample or for every gid.
 * The flash workloads add their stock conservation check.
 */
import type { Redis } from 'ioredis';
import { request } from 'undici';
import type { Keys } from '../../src/store/keys.js';
import { flashKeys } from '../flash-service.js';
import { FAIL_MARK, FLASH_TAG } from '../workloads.js';
import { sleep } from './children.js';
import { OUTCOME, type DriverResult, type SampleTx } from './ipc.js';

/** Transactions still scheduled: the sum of the due ZSETs' sizes. */
export async function dueCount(admin: Redis, keys: Keys): Promise<number> {
  const p = admin.pipeline();
  for (let b = 0; b < keys.buckets; b++) p.zcard(keys.due(b));
  const res = (await p.exec()) ?? [];
  return res.reduce((s, [err, n]) => s + (err ? 0 : Number(n)), 0);
}

export interface EndState {
  ok: boolean;
  /** How the end state was read: the store and the API (ours), or only the API (external). */
  method: 'store+query' | 'query';
  sample_checked: number;
  sample_bad: number;
  sample_bad_examples: string[];
  /** Store only (null when external): gids in the due ZSETs that are finished / not finished. */
  due_finished: number | null;
  due_unfinished: number | null;
  /** Store only: every indexed record by status. External: the gids read back by status. */
  records: Record<string, number>;
  expected: { succeed: number; failed: number };
}

const FINAL = new Set(['succeed', 'failed']);

/** The status of `gid` through the coordinator's query API (`missing`, or `error …`). */
export async function queryStatus(url: string, gid: string): Promise<string> {
  try {
    const res = await request(`${url}/api/dtmsvr/query?gid=${encodeURIComponent(gid)}`);
    const body = (await res.body.json()) as { transaction?: { status?: string } | null };
    return body.transaction?.status ?? 'missing';
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

/** Runs `fn` over `items`, `width` at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/**
 * 1. a sample (≥ 200) of the transactions the driver counted as done, read back through the
 *    coordinator's /api/dtmsvr/query: each must have the status its answer implied;
 * 2. the due ZSETs `{dtm:<b>}:due` (the retry schedules): none of their gids may be finished
 *    (succeed/failed), and after the drain none should be left at all;
 * 3. counting: every record listed in the `{dtm:<b>}:idx` ZSETs, by status, must match what the
 *    driver counted (succeed = its 200s, failed = its expected 409s): nothing lost or duplicated.
 */
export async function checkEndState(admin: Redis, keys: Keys, coordinatorUrl: string, result: DriverResult): Promise<EndState> {
  let bad = 0;
  const badExamples: string[] = [];
  const sample = result.sample;
  await eachLimited(sample, 16, async ({ gid, expect }) => {
    const status = await queryStatus(coordinatorUrl, gid);
    if (status !== expect) {
      bad++;
      if (badExamples.length < 5) badExamples.push(`${gid}: ${status} (expected ${expect})`);
    }
  });

  let dueFinished = 0;
  let dueUnfinished = 0;
  for (let b = 0; b < keys.buckets; b++) {
    const gids = await admin.zrange(keys.due(b), '0', '-1');
    if (gids.length === 0) continue;
    const p = admin.pipeline();
    for (const g of gids) p.hget(keys.trans(g), 's');
    for (const [, s] of (await p.exec()) ?? []) {
      if (s === 'succeed' || s === 'failed') dueFinished++;
      else dueUnfinished++;
    }
  }

  const records = await recordsByStatus(admin, keys);
  const expected = { succeed: result.total.succeed, failed: result.total.failed };
  const got = (k: string): number => records[k] ?? 0;
  const others = Object.entries(records)
    .filter(([k]) => !FINAL.has(k))
    .reduce((s, [, n]) => s + n, 0);
  // With driver errors (a reply lost or refused) the record may still exist: then only "at least".
  const countsOk =
    result.total.errors === 0
      ? got('succeed') === expected.succeed && got('failed') === expected.failed && others === 0
      : got('succeed') >= expected.succeed && got('failed') >= expected.failed && others === 0;
  return {
    ok: bad === 0 && sample.length >= Math.min(200, expected.succeed + expected.failed) && dueFinished === 0 && dueUnfinished === 0 && countsOk,
    method: 'store+query',
    sample_checked: sample.length,
    sample_bad: bad,
    sample_bad_examples: badExamples,
    due_finished: dueFinished,
    due_unfinished: dueUnfinished,
    records,
    expected,
  };
}

/** Every record listed in the index ZSETs, counted by status (`missing` when the hash is gone). */
export async function recordsByStatus(admin: Redis, keys: Keys): Promise<Record<string, number>> {
  const records: Record<string, number> = {};
  for (let b = 0; b < keys.buckets; b++) {
    const gids = await admin.zrange(keys.idx(b), '0', '-1');
    for (let i = 0; i < gids.length; i += 5000) {
      const p = admin.pipeline();
      for (const g of gids.slice(i, i + 5000)) p.hget(keys.trans(g), 's');
      for (const [, s] of (await p.exec()) ?? []) {
        const k = typeof s === 'string' ? s : 'missing';
        records[k] = (records[k] ?? 0) + 1;
      }
    }
  }
  return records;
}

/** Every transaction the driver saw answered, with the status the answer implied (from its outcome bytes). */
export function answeredGids(result: DriverResult, runId: string, failRate: number): SampleTx[] {
  if (result.outcomes === undefined) return result.sample;
  const bytes = Buffer.from(result.outcomes, 'base64');
  const out: SampleTx[] = [];
  for (let n = 0; n < bytes.length; n++) {
    const o = bytes[n];
    if (o === OUTCOME.succeed || o === OUTCOME.failed) {
      out.push({ gid: `${runId}-${n}${failRate > 0 && isMarked(n, failRate) ? FAIL_MARK : ''}`, expect: o === OUTCOME.failed ? 'failed' : 'succeed' });
    }
  }
  return out;
}

/** The driver's choice of the gids whose TransIn fails (driver.ts markFail). */
function isMarked(n: number, failRate: number): boolean {
  return Math.floor((n + 1) * failRate) !== Math.floor(n * failRate);
}

/**
 * External coordinator: reads `txs` back through /api/dtmsvr/query until each is final or
 * `deadlineMs` passes (the drain of an external server is seen only this way). A final status
 * other than the expected one is bad at once.
 */
export async function checkByQuery(
  url: string,
  txs: readonly SampleTx[],
  result: DriverResult,
  deadlineMs: number,
): Promise<{ end: EndState; drainS: number; unfinishedAtStart: number }> {
  const t0 = Date.now();
  let pending = [...txs];
  const records: Record<string, number> = {};
  let bad = 0;
  const badExamples: string[] = [];
  let unfinishedAtStart = -1;
  for (;;) {
    const still: SampleTx[] = [];
    await eachLimited(pending, 32, async (tx) => {
      const status = await queryStatus(url, tx.gid);
      if (!FINAL.has(status) && Date.now() < deadlineMs) {
        still.push(tx);
        return;
      }
      records[status] = (records[status] ?? 0) + 1;
      if (status !== tx.expect) {
        bad++;
        if (badExamples.length < 5) badExamples.push(`${tx.gid}: ${status} (expected ${tx.expect})`);
      }
    });
    if (unfinishedAtStart < 0) unfinishedAtStart = still.length;
    pending = still;
    if (pending.length === 0) break;
    await sleep(200);
  }
  const expected = { succeed: result.total.succeed, failed: result.total.failed };
  return {
    end: {
      ok: bad === 0 && txs.length >= Math.min(200, expected.succeed + expected.failed),
      method: 'query',
      sample_checked: txs.length,
      sample_bad: bad,
      sample_bad_examples: badExamples,
      due_finished: null,
      due_unfinished: null,
      records,
      expected,
    },
    drainS: (Date.now() - t0) / 1000,
    unfinishedAtStart,
  };
}

export interface FlashEnd {
  ok: boolean;
  stock_initial: number;
  stock_left: number;
  orders: number;
  order_set: number;
  oversold: number;
  conservation_ok: boolean;
}

/**
 * The flash sale's own end state (after the drain): stock never below zero (nothing oversold),
 * stock + orders = the initial stock (conservation), the order counter equals the order set,
 * and the orders equal the buyers answered 200 (exactly, when the driver saw no error; a lost
 * answer may still have bought).
 */
export async function checkFlashEnd(admin: Redis, stockInitial: number, result: DriverResult): Promise<FlashEnd> {
  const k = flashKeys(FLASH_TAG);
  const [stockLeft, orders, orderSet] = await Promise.all([admin.get(k.stock), admin.get(k.orders), admin.scard(k.orderSet)]);
  const left = Number(stockLeft);
  const n = Number(orders);
  const oversold = Math.max(0, n - stockInitial, -left);
  const bought = result.total.succeed;
  const conservation = left >= 0 && left + n === stockInitial && n === orderSet && (result.total.errors === 0 ? n === bought : n >= bought);
  return {
    ok: conservation && oversold === 0,
    stock_initial: stockInitial,
    stock_left: left,
    orders: n,
    order_set: orderSet,
    oversold,
    conservation_ok: conservation,
  };
}
