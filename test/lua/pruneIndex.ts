import t from 'tap';
import { gidsInBucket, raw, seed, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('pruneIndex');
});
t.teardown(async () => {
  await h.redis.stop();
});

/**
 * Seeds bucket `b` with transactions created at the given offsets from T0; the ones marked
 * gone have their record deleted, as an expired finished transaction would.
 */
async function seedBucket(b: number, rows: { offset: number; gone: boolean }[]): Promise<string[]> {
  const gids = gidsInBucket(h.keys, b, rows.length, `pi${b}`);
  for (const [i, row] of rows.entries()) {
    h.clock.set(T0 + row.offset);
    await seed(h, gids[i]!, 'succeed');
    if (row.gone) await h.client.del(h.keys.trans(gids[i]!));
  }
  return gids;
}

t.test('removes only index entries whose record is gone and that were created before the bound', async (t) => {
  const [kept, , , goneAtBound, goneAfter] = await seedBucket(1, [
    { offset: -5000, gone: false },
    { offset: -4000, gone: true },
    { offset: -3000, gone: true },
    { offset: 0, gone: true },
    { offset: 1000, gone: true },
  ]);
  t.strictSame(await h.store.pruneIndex(1, T0, 100), 2, 'two removed');
  t.strictSame(
    await zmembers(h.client, h.keys.idx(1)),
    { [kept!]: T0 - 5000, [goneAtBound!]: T0, [goneAfter!]: T0 + 1000 },
    'the live one, the one at the (exclusive) bound and the later one stay',
  );
  t.ok(await h.store.getTrans(kept!), 'the live record is untouched');
});

t.test('the limit bounds the entries examined, oldest first', async (t) => {
  const [live, gone1, gone2] = await seedBucket(2, [
    { offset: -3000, gone: false },
    { offset: -2000, gone: true },
    { offset: -1000, gone: true },
  ]);
  t.equal(await h.store.pruneIndex(2, T0, 1), 0, 'the oldest is live: nothing removed');
  t.equal(await h.store.pruneIndex(2, T0, 2), 1, 'the next one is gone: one removed');
  t.strictSame(await zmembers(h.client, h.keys.idx(2)), { [live!]: T0 - 3000, [gone2!]: T0 - 1000 }, `${gone1} removed`);
  t.equal(await h.store.pruneIndex(2, T0, 2), 1, 'the last one');
  t.strictSame(await zmembers(h.client, h.keys.idx(2)), { [live!]: T0 - 3000 }, 'only the live one left');
});

t.test('replaying a prune removes nothing more and leaves the same end state', async (t) => {
  await seedBucket(3, [
    { offset: -2000, gone: true },
    { offset: -1000, gone: false },
  ]);
  t.equal(await h.store.pruneIndex(3, T0, 10), 1, 'first: 1');
  const once = await snapshot(h.client, h.keys);
  t.equal(await h.store.pruneIndex(3, T0, 10), 0, 'replay: 0');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('other buckets and the schedule are untouched', async (t) => {
  await seedBucket(4, [{ offset: -1000, gone: true }]);
  const [other] = await seedBucket(5, [{ offset: -1000, gone: true }]);
  const due4 = await zmembers(h.client, h.keys.due(4));
  t.equal(await h.store.pruneIndex(4, T0, 10), 1, 'bucket 4 pruned');
  t.strictSame(await zmembers(h.client, h.keys.idx(5)), { [other!]: T0 - 1000 }, 'bucket 5 index kept');
  t.strictSame(await zmembers(h.client, h.keys.due(4)), due4, 'bucket 4 schedule kept');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  await seedBucket(6, [{ offset: -1000, gone: true }]);
  const idx = h.keys.idx(6);
  const rows: { name: string; args: (string | number)[] }[] = [
    { name: 'bound not a number', args: [idx, 'yesterday', 10] },
    { name: 'bound NaN', args: [idx, 'NaN', 10] },
    { name: 'limit 0', args: [idx, T0, 0] },
    { name: 'limit negative (would read the whole index)', args: [idx, T0, -1] },
    { name: 'limit fractional', args: [idx, T0, 0.5] },
    { name: 'limit over 10000', args: [idx, T0, 10_001] },
    { name: 'limit missing', args: [idx, T0] },
    { name: 'key is not an index key', args: [h.keys.due(6), T0, 10] },
  ];
  const call = raw(h.client, 'pruneIndex');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  await t.rejects(h.store.pruneIndex(6, T0, -1), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'through the store: StoreContractError');
});
