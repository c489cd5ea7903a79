import t from 'tap';
import { fields, FINISHED_TTL_S, raw, seed, snapshot, startStoreHarness, T0, zscore, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('resetNextCron');
});
t.teardown(async () => {
  await h.redis.stop();
});

const due = (gid: string): string => h.keys.due(h.keys.bucketOf(gid));

t.test('makes a scheduled transaction due now', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rn-happy', 'submitted');
  t.equal(await zscore(h.client, due('rn-happy'), 'rn-happy'), T0 + 10_000, 'scheduled in 10 s');
  h.clock.set(T0 + 500);
  t.equal(await h.store.resetNextCron('rn-happy'), 'OK', 'OK');
  t.equal(await zscore(h.client, due('rn-happy'), 'rn-happy'), T0 + 500, 'due now');
  t.strictSame(
    await fields(h.client, h.keys.trans('rn-happy'), 'nct', 'ut', 's', 'nci'),
    { nct: String(T0 + 500), ut: String(T0 + 500), s: 'submitted', nci: '10' },
    'record says so too; status and interval kept',
  );
  t.equal(await h.client.pttl(h.keys.trans('rn-happy')), -1, 'no TTL');
  t.match(await h.store.getTrans('rn-happy'), { next_cron_time: T0 + 500, update_time: T0 + 500 }, 'getTrans');
  t.strictSame(await h.store.claimDue(h.keys.bucketOf('rn-happy'), 1000, 10), ['rn-happy'], 'a claim now takes it');
});

t.test('a missing transaction is NOT_FOUND and nothing is created', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.equal(await h.store.resetNextCron('rn-missing'), 'NOT_FOUND', 'NOT_FOUND');
  t.strictSame(await snapshot(h.client, h.keys), before, 'no record, no schedule entry');
});

t.test('a finished transaction is not put back on the schedule', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rn-finished', 'succeed');
  h.clock.set(T0 + 500);
  t.equal(await h.store.resetNextCron('rn-finished'), 'OK', 'OK (it exists)');
  t.equal(await zscore(h.client, due('rn-finished'), 'rn-finished'), null, 'still unscheduled');
  const ttl = await h.client.ttl(h.keys.trans('rn-finished'));
  t.ok(ttl > 0 && ttl <= FINISHED_TTL_S, `still expires (TTL ${ttl} s)`);
  t.equal(await h.client.hget(h.keys.trans('rn-finished'), 's'), 'succeed', 'still succeed');
});

t.test('replaying at the same time answers OK with the same end state', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rn-replay', 'aborting');
  h.clock.set(T0 + 700);
  t.equal(await h.store.resetNextCron('rn-replay'), 'OK', 'first: OK');
  const once = await snapshot(h.client, h.keys);
  t.equal(await h.store.resetNextCron('rn-replay'), 'OK', 'replay: OK');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rn-bad', 'submitted');
  const keys = [h.keys.trans('rn-bad'), due('rn-bad')];
  const rows: { name: string; args: string[] }[] = [
    { name: 'now not a number', args: [...keys, 'rn-bad', 'now'] },
    { name: 'now NaN', args: [...keys, 'rn-bad', 'NaN'] },
    { name: 'now missing', args: [...keys, 'rn-bad'] },
    { name: 'gid missing', args: [...keys] },
  ];
  const call = raw(h.client, 'resetNextCron');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  h.clock.set(Number.NaN);
  await t.rejects(
    h.store.resetNextCron('rn-bad'),
    { name: 'StoreContractError', message: /DTM_ARGS/ },
    'through the store: a NaN clock is a StoreContractError',
  );
  h.clock.set(T0);
  t.equal(await zscore(h.client, due('rn-bad'), 'rn-bad'), T0 + 10_000, 'schedule unchanged');
});
