/**
 * The poller over a fake store and engine: how it spreads its room over the buckets, that it
 * claims them all at once and goes on past a bucket whose claim fails, and that it takes no more
 * rounds than the engine has free slots.
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { CLAIM_BATCH, createPoller, shareRoom } from '../../src/poller.js';
import type { Store } from '../../src/store/store.js';
import type { Engine } from '../../src/trans/engine.js';
import { createRoundSlots } from '../../src/trans/round-slots.js';

t.test('room is spread evenly over the buckets, the remainder from the rotating first bucket, capped per bucket', async (t) => {
  t.strictSame(shareRoom(0, 4, 0), [], 'no room: no claims');
  t.strictSame(
    shareRoom(2, 8, 6),
    [
      { bucket: 6, limit: 1 },
      { bucket: 7, limit: 1 },
    ],
    'less room than buckets: one each from the first bucket on, the others skipped',
  );
  t.strictSame(
    shareRoom(10, 4, 1),
    [
      { bucket: 1, limit: 3 },
      { bucket: 2, limit: 3 },
      { bucket: 3, limit: 2 },
      { bucket: 0, limit: 2 },
    ],
    '10 over 4: 2 each, one more for the first two from bucket 1 (wrapping around)',
  );
  t.strictSame(
    shareRoom(8, 4, 3).map((s) => s.limit),
    [2, 2, 2, 2],
    'an even split',
  );
  t.strictSame(
    shareRoom(1000, 4, 0).map((s) => s.limit),
    [CLAIM_BATCH, CLAIM_BATCH, CLAIM_BATCH, CLAIM_BATCH],
    'at most one claim batch per bucket',
  );
  for (const [room, buckets, first] of [
    [1, 1, 0],
    [7, 3, 2],
    [64, 64, 63],
    [65, 64, 10],
    [200, 8, 5],
    [1024, 64, 9],
  ] as const) {
    const shares = shareRoom(room, buckets, first);
    const total = shares.reduce((n, s) => n + s.limit, 0);
    t.equal(total, Math.min(room, buckets * CLAIM_BATCH), `room ${room} over ${buckets}: the shares add up to the room (or the cap)`);
    t.equal(new Set(shares.map((s) => s.bucket)).size, shares.length, `room ${room} over ${buckets}: each bucket at most once`);
    const limits = shares.map((s) => s.limit);
    t.ok(Math.max(...limits) - Math.min(...limits) <= 1, `room ${room} over ${buckets}: shares differ by at most one`);
    t.ok(
      shares.every((s) => s.bucket >= 0 && s.bucket < buckets && s.limit > 0),
      `room ${room} over ${buckets}: real buckets, positive limits`,
    );
  }
});

interface Harness {
  claims: { bucket: number; limit: number }[];
  /** The most claims outstanding at once. */
  peakClaims: () => number;
  driven: string[];
  warnings: Record<string, unknown>[];
  engine: Engine;
  poller: ReturnType<typeof createPoller>;
}

/**
 * A poller over `buckets` buckets, each holding `due[b]` due gids; claims of the buckets in
 * `failing` reject. The fake engine records each driven gid and frees its slot.
 */
function harness(opts: { buckets: number; due: number[]; failing?: number[]; slots: number; env?: Record<string, string> }): Harness {
  const claims: Harness['claims'] = [];
  const driven: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const queues = opts.due.map((n, b) => Array.from({ length: n }, (_, i) => `g${b}-${i}`));
  let outstanding = 0;
  let peak = 0;
  const store = {
    keys: { buckets: opts.buckets },
    async claimDue(bucket: number, _lease: number, limit: number): Promise<string[]> {
      claims.push({ bucket, limit });
      peak = Math.max(peak, ++outstanding);
      // A round trip: claims sent together are all out before any answers.
      await new Promise((r) => setImmediate(r));
      outstanding--;
      if (opts.failing?.includes(bucket)) throw new Error(`connection to the master of bucket ${bucket} lost`);
      return queues[bucket]!.splice(0, limit);
    },
  } as unknown as Store;
  const slots = createRoundSlots(opts.slots);
  const engine = {
    slots,
    async driveGid(gid: string) {
      driven.push(gid);
      await new Promise((r) => setImmediate(r));
      slots.release();
    },
  } as unknown as Engine;
  const config = loadConfig({ MAX_INFLIGHT_ROUNDS: String(opts.slots), ...opts.env }, []);
  const log = createLogger('warn', { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  return { claims, peakClaims: () => peak, driven, warnings, engine, poller: createPoller({ store, engine, config, log }) };
}

t.test('a bucket whose claim fails is skipped: the others are still claimed and driven, with one warning per pass', async (t) => {
  const h = harness({ buckets: 4, due: [1000, 1000, 1000, 1000], failing: [2], slots: 100 });
  // Four passes: the rotating first bucket is the failing one in one of them.
  for (let pass = 1; pass <= 4; pass++) {
    h.claims.length = 0;
    const before = h.driven.length;
    const claimed = await h.poller.tick();
    const healthyShares = h.claims.filter((c) => c.bucket !== 2).reduce((n, c) => n + c.limit, 0);
    t.ok(claimed > 0, `pass ${pass}: something was claimed (${claimed})`);
    t.equal(claimed, healthyShares, `pass ${pass}: the three healthy buckets filled their shares`);
    t.strictSame(h.claims.map((c) => c.bucket).sort(), [0, 1, 2, 3], `pass ${pass}: every bucket was asked, the failing one included`);
    t.equal(h.driven.length - before, claimed, `pass ${pass}: every claimed gid was driven`);
    t.equal(h.warnings.length, pass, `pass ${pass}: one warning`);
  }
  t.notOk(
    h.driven.some((g) => g.startsWith('g2-')),
    'nothing came from the failing bucket',
  );
  t.match(
    h.warnings[0],
    { level: 'warn', msg: /claim failed for some buckets/, buckets: [2], failed: 1, of: 4, err: /bucket 2 lost/ },
    'naming the failed bucket and the error',
  );
  t.equal(h.engine.slots.inUse, 0, 'every slot is back once the rounds ended');
});

t.test('an idle pass takes room for a few per bucket, and the gulp doubles while a backlog drains', async (t) => {
  const h = harness({ buckets: 4, due: [1000, 1000, 1000, 1000], slots: 1024 });
  const asked: number[] = [];
  for (let pass = 1; pass <= 5; pass++) {
    h.claims.length = 0;
    await h.poller.tick();
    asked.push(h.claims.reduce((n, c) => n + c.limit, 0));
  }
  // 4 per bucket, then twice what the last pass found; the rest of the 1024 slots stay free for
  // API rounds while the claims are out.
  t.strictSame(asked, [16, 32, 64, 128, 256], 'room taken per pass');
  h.claims.length = 0;
  await h.poller.tick();
  t.strictSame(
    h.claims.map((c) => c.limit),
    [100, 100, 100, 100],
    'then each bucket its CLAIM_BATCH',
  );
});

t.test('the claims of a pass go out together, not one bucket after another', async (t) => {
  const h = harness({ buckets: 8, due: [1, 1, 1, 1, 1, 1, 1, 1], slots: 100 });
  t.equal(await h.poller.tick(), 8, 'one from each bucket');
  t.equal(h.peakClaims(), 8, 'all 8 claims were out at once');
});

t.test('the poller takes no more than the free slots, and gives back what its claims did not fill', async (t) => {
  const h = harness({ buckets: 4, due: [50, 0, 0, 0], slots: 10 });
  // 7 slots busy with rounds started elsewhere (API calls): 3 free.
  for (let i = 0; i < 7; i++) h.engine.slots.tryAcquire();
  const claimed = await h.poller.tick();
  t.strictSame(
    h.claims.reduce((n, c) => n + c.limit, 0),
    3,
    'the claims asked for the 3 free slots in all',
  );
  t.ok(claimed <= 1, `bucket 0 gave at most its share (${claimed})`);
  t.equal(h.engine.slots.inUse, 7, 'unfilled slots were given back, the others freed when their rounds ended');
  for (let i = 0; i < 7; i++) h.engine.slots.release();
  h.claims.length = 0;
  const again = await h.poller.tick();
  const share = h.claims.find((c) => c.bucket === 0)?.limit;
  t.ok(share === 2 || share === 3, `with every slot free, bucket 0's share of 10 over 4 is 2 or 3 (${share})`);
  t.equal(again, share, 'and it filled it');
});

t.test('POLLER_CONCURRENCY caps the poller below the slot bound', async (t) => {
  const h = harness({ buckets: 2, due: [40, 40], slots: 50, env: { POLLER_CONCURRENCY: '6' } });
  t.equal(await h.poller.tick(), 6, 'six claimed');
  t.strictSame(
    h.claims.map((c) => c.limit),
    [3, 3],
    'three per bucket',
  );
});

t.test('with no free slot a pass claims nothing and asks no bucket', async (t) => {
  const h = harness({ buckets: 4, due: [5, 5, 5, 5], slots: 2 });
  h.engine.slots.tryAcquire();
  h.engine.slots.tryAcquire();
  t.equal(await h.poller.tick(), 0, 'nothing claimed');
  t.equal(h.claims.length, 0, 'no claim script ran');
});

t.test('a running poller starved of slots claims again as soon as slots free up, not at its next interval', async (t) => {
  // A long interval: only the wake on freed slots can make the second pass happen in time.
  const h = harness({ buckets: 1, due: [20], slots: 4, env: { TRANS_CRON_INTERVAL: '60' } });
  const slots = h.engine.slots;
  for (let i = 0; i < 4; i++) slots.tryAcquire();
  h.poller.start();
  t.teardown(() => h.poller.stop());
  // The first pass found no room; an API call finds every slot busy and leaves its transaction to the schedule.
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(slots.tryAcquire(), 'an API call finds every slot busy');
  slots.defer();
  for (let i = 0; i < 4; i++) slots.release();
  const deadline = Date.now() + 2000;
  while (h.driven.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(h.driven.length, 20, 'all 20 due gids were driven within 2 s (the interval is 60 s)');
  t.ok(
    h.claims.every((c) => c.limit <= 4),
    'never more than the 4 slots claimed at once',
  );
});

t.test('a sleeping poller with free slots wakes when an API call leaves a transaction to the schedule', async (t) => {
  const h = harness({ buckets: 2, due: [0, 0], slots: 4, env: { TRANS_CRON_INTERVAL: '60' } });
  h.poller.start();
  t.teardown(() => h.poller.stop());
  await new Promise((r) => setTimeout(r, 20));
  const passes = h.claims.length;
  t.ok(passes > 0, 'the first pass ran and found nothing');
  t.equal(h.claims.length, passes, 'then it sleeps');
  h.engine.slots.defer();
  const deadline = Date.now() + 2000;
  while (h.claims.length === passes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.ok(h.claims.length > passes, 'the deferral woke it at once (the interval is 60 s)');
});

t.test('with less room than buckets, passes sweep the buckets in turn, then sleep', async (t) => {
  // One slot, four buckets, work only in the last one: each pass can ask one bucket.
  const h = harness({ buckets: 4, due: [0, 0, 0, 5], slots: 1, env: { TRANS_CRON_INTERVAL: '60' } });
  h.poller.start();
  t.teardown(() => h.poller.stop());
  const deadline = Date.now() + 2000;
  while (h.driven.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(h.driven.length, 5, 'every due gid was found and driven, one slot at a time, without waiting for the interval');
  await new Promise((r) => setTimeout(r, 100));
  const settled = h.claims.length;
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.claims.length, settled, `then, a full sweep finding nothing, it sleeps (${settled} claims in all)`);
  // Each find restarts the sweep: about one pass over the 4 buckets per gid found, then one empty sweep.
  t.ok(settled <= 4 * (5 + 2), 'having asked each bucket about once per sweep');
});
