/**
 * The counts of unfinished transactions by status that the scripts keep per bucket, and the
 * store's backlog read over every bucket.
 */
import t from 'tap';
import { newTrans, seed, startStoreHarness, T0, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('backlog');
});
t.teardown(async () => {
  await h.redis.stop();
});

/** The stats HASH of a gid's bucket, as numbers (absent statuses as 0). */
async function statsOf(gid: string): Promise<Record<string, number>> {
  const s = await h.client.hgetall(h.keys.stats(h.keys.bucketOf(gid)));
  return { prepared: Number(s['prepared'] ?? 0), submitted: Number(s['submitted'] ?? 0), aborting: Number(s['aborting'] ?? 0) };
}

t.test('every transition moves one count, and a final status leaves the counts', async (t) => {
  const gid = 'bl-one';
  h.clock.set(T0);
  await h.store.createTrans(newTrans(gid, { status: 'prepared', trans_type: 'tcc', branches: [] }), 'prepare');
  t.strictSame(await statsOf(gid), { prepared: 1, submitted: 0, aborting: 0 }, 'prepared');
  await h.store.createTrans(newTrans(gid, { status: 'prepared', trans_type: 'tcc', branches: [] }), 'prepare');
  t.strictSame(await statsOf(gid), { prepared: 1, submitted: 0, aborting: 0 }, 'a repeated prepare counts nothing');
  await h.store.changeStatus(gid, 'prepared', 'aborting', {});
  t.strictSame(await statsOf(gid), { prepared: 0, submitted: 0, aborting: 1 }, 'aborting');
  t.match(await h.store.changeStatus(gid, 'prepared', 'failed', {}), { tag: 'STALE' }, 'a stale change');
  t.strictSame(await statsOf(gid), { prepared: 0, submitted: 0, aborting: 1 }, 'a refused change counts nothing');
  await h.store.changeStatus(gid, 'aborting', 'failed', {});
  t.strictSame(await statsOf(gid), { prepared: 0, submitted: 0, aborting: 0 }, 'failed: no longer counted');
});

t.test('a submit that promotes a prepared msg moves its count to submitted', async (t) => {
  const gid = 'bl-promote';
  await h.store.createTrans(newTrans(gid, { status: 'prepared', trans_type: 'msg' }), 'prepare');
  t.match(await h.store.createTrans(newTrans(gid, { trans_type: 'msg' }), 'submit'), { tag: 'PROMOTED' }, 'promoted');
  t.strictSame(await statsOf(gid), { prepared: 0, submitted: 1, aborting: 0 }, 'submitted');
  t.match(await h.store.createTrans(newTrans(gid, { trans_type: 'msg' }), 'submit'), { tag: 'EXISTS' }, 'a second submit finds it');
  t.strictSame(await statsOf(gid), { prepared: 0, submitted: 1, aborting: 0 }, 'and counts nothing');
});

t.test('backlog sums every bucket and names the earliest next cron time', async (t) => {
  const h2 = await startStoreHarness('backlog-sum');
  t.teardown(() => h2.redis.stop());
  t.strictSame(await h2.store.backlog(), { byStatus: { prepared: 0, submitted: 0, aborting: 0 }, earliestDue: undefined }, 'empty');
  h2.clock.set(T0);
  for (let i = 0; i < 20; i++)
    await seed(h2, `bs-${i}`, i % 4 === 0 ? 'prepared' : i % 4 === 1 ? 'aborting' : i % 4 === 2 ? 'succeed' : 'submitted', { next_cron_time: T0 + 1000 + i });
  t.strictSame(
    await h2.store.backlog(),
    { byStatus: { prepared: 5, submitted: 5, aborting: 5 }, earliestDue: T0 + 1000 },
    'five of each unfinished status, and the earliest schedule entry',
  );
});
