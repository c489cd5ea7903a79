import t from 'tap';
import { FINISHED_TTL_S, gidsInBucket, raw, seed, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('pruneIndex');
});
t.teardown(async () => {
  await h.redis.stop();
});

const TTL_MS = FINISHED_TTL_S * 1000;

/** Seeds bucket `b` with transactions finished (or left running) at the given offsets from T0. */
async function seedBucket(b: number, rows: { offset: number; status: 'succeed' | 'failed' | 'submitted' }[]): Promise<string[]> {
  const gids = gidsInBucket(h.keys, b, rows.length, `pi${b}`);
  for (const [i, row] of rows.entries()) {
    h.clock.set(T0 + row.offset);
    await seed(h, gids[i]!, row.status);
  }
  return gids;
}

t.test('a finished transaction joins fin, scored by when its record expires; a running one does not', async (t) => {
  const [done, failed, running] = await seedBucket(0, [
    { offset: 0, status: 'succeed' },
    { offset: 100, status: 'failed' },
    { offset: 200, status: 'submitted' },
  ]);
  t.strictSame(await zmembers(h.client, h.keys.fin(0)), { [done!]: T0 + TTL_MS, [failed!]: T0 + 100 + TTL_MS }, 'the two finished, at finish + TTL');
  t.ok((await zmembers(h.client, h.keys.idx(0)))[running!], 'the running one is listed');
});

t.test('removes from the index exactly the finished transactions whose record has expired', async (t) => {
  const [expired1, expired2, fresh, running] = await seedBucket(1, [
    { offset: -TTL_MS - 2000, status: 'succeed' },
    { offset: -TTL_MS - 1000, status: 'failed' },
    { offset: -1000, status: 'succeed' },
    { offset: -TTL_MS - 5000, status: 'submitted' },
  ]);
  h.clock.set(T0);
  t.strictSame(await h.store.pruneIndex(1, 100), { removed: 2, more: false }, 'two removed, none more due');
  const idx = await zmembers(h.client, h.keys.idx(1));
  t.strictSame(Object.keys(idx).sort(), [fresh!, running!].sort(), 'the fresh finished one and the old running one stay listed');
  t.strictSame(Object.keys(await zmembers(h.client, h.keys.fin(1))), [fresh!], 'only the fresh one is left in fin');
  t.notOk((await zmembers(h.client, h.keys.idx(1)))[expired1!] ?? (await zmembers(h.client, h.keys.idx(1)))[expired2!], 'the expired ones are gone');
});

t.test('the limit bounds the work, and `more` says another call has work to do', async (t) => {
  const gids = await seedBucket(2, [
    { offset: -TTL_MS - 3000, status: 'succeed' },
    { offset: -TTL_MS - 2000, status: 'succeed' },
    { offset: -TTL_MS - 1000, status: 'succeed' },
  ]);
  h.clock.set(T0);
  t.strictSame(await h.store.pruneIndex(2, 2), { removed: 2, more: true }, 'two of three, with more');
  t.strictSame(Object.keys(await zmembers(h.client, h.keys.idx(2))), [gids[2]!], 'the oldest two went first');
  t.strictSame(await h.store.pruneIndex(2, 2), { removed: 1, more: false }, 'the last one, no more');
  t.strictSame(await zmembers(h.client, h.keys.idx(2)), {}, 'the index is empty');
});

t.test('replaying a prune removes nothing more and leaves the same end state', async (t) => {
  await seedBucket(3, [
    { offset: -TTL_MS - 2000, status: 'succeed' },
    { offset: -1000, status: 'succeed' },
  ]);
  h.clock.set(T0);
  t.equal((await h.store.pruneIndex(3, 10)).removed, 1, 'first: 1');
  const once = await snapshot(h.client, h.keys);
  t.equal((await h.store.pruneIndex(3, 10)).removed, 0, 'replay: 0');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('a gid created again after its record expired is not pruned by the old entry', async (t) => {
  const [gid] = await seedBucket(4, [{ offset: -TTL_MS - 1000, status: 'succeed' }]);
  // The old record expired; a new transaction takes the gid before the prune ran.
  await h.client.del(h.keys.trans(gid!));
  h.clock.set(T0);
  await seed(h, gid!, 'submitted');
  t.strictSame(await zmembers(h.client, h.keys.fin(4)), {}, 'creating it again dropped the stale fin entry');
  t.strictSame(await h.store.pruneIndex(4, 10), { removed: 0, more: false }, 'nothing to prune');
  t.ok((await zmembers(h.client, h.keys.idx(4)))[gid!], 'the new transaction stays listed');
});

t.test('other buckets and the schedule are untouched', async (t) => {
  await seedBucket(5, [{ offset: -TTL_MS - 1000, status: 'succeed' }]);
  const [other] = await seedBucket(6, [{ offset: -TTL_MS - 1000, status: 'succeed' }]);
  h.clock.set(T0);
  const due5 = await zmembers(h.client, h.keys.due(5));
  t.equal((await h.store.pruneIndex(5, 10)).removed, 1, 'bucket 5 pruned');
  t.ok((await zmembers(h.client, h.keys.idx(6)))[other!], 'bucket 6 index kept');
  t.strictSame(await zmembers(h.client, h.keys.due(5)), due5, 'bucket 5 schedule kept');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  await seedBucket(7, [{ offset: -TTL_MS - 1000, status: 'succeed' }]);
  h.clock.set(T0);
  const idx = h.keys.idx(7);
  const fin = h.keys.fin(7);
  const rows: { name: string; args: (string | number)[] }[] = [
    { name: 'now not a number', args: [idx, fin, 'yesterday', 10] },
    { name: 'now NaN', args: [idx, fin, 'NaN', 10] },
    { name: 'limit 0', args: [idx, fin, T0, 0] },
    { name: 'limit negative (would read the whole set)', args: [idx, fin, T0, -1] },
    { name: 'limit fractional', args: [idx, fin, T0, 0.5] },
    { name: 'limit over 1000', args: [idx, fin, T0, 1001] },
    { name: 'limit missing', args: [idx, fin, T0] },
  ];
  const call = raw(h.client, 'pruneIndex');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  await t.rejects(h.store.pruneIndex(7, -1), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'through the store: StoreContractError');
});
