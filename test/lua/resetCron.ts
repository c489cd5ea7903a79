import t from 'tap';
import { raw, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('resetCron');
});
t.teardown(async () => {
  await h.redis.stop();
});

/** `from` as the admin call computes it: now + a 1 s timeout. */
const FROM = T0 + 1000;

/**
 * Seeds bucket `b`: one entry already due, one inside the timeout, one exactly at `from`
 * (not after it), and `later` entries after it.
 */
async function seedBucket(b: number, later: number): Promise<{ before: Record<string, number>; later: string[] }> {
  const before: Record<string, number> = { [`rc${b}-due`]: T0 - 1000, [`rc${b}-soon`]: T0 + 500, [`rc${b}-at-from`]: FROM };
  const laterGids: string[] = [];
  for (let i = 0; i < later; i++) {
    const gid = `rc${b}-later-${i}`;
    before[gid] = FROM + 1000 * (i + 1);
    laterGids.push(gid);
  }
  await h.client.zadd(h.keys.due(b), ...Object.entries(before).flatMap(([g, s]) => [s, g]));
  return { before, later: laterGids };
}

t.test('pulls every entry scheduled after `from` forward to now, and only those', async (t) => {
  h.clock.set(T0);
  const { before, later } = await seedBucket(1, 3);
  t.strictSame(await h.store.resetCron(1, FROM, 10), { count: 3, hasRemaining: false }, 'three reset, none remaining');
  t.strictSame(
    await zmembers(h.client, h.keys.due(1)),
    { ...before, ...Object.fromEntries(later.map((g) => [g, T0])) },
    'later entries at now, the rest unchanged',
  );
});

t.test('a limit below the number of candidates resets that many and reports more remaining', async (t) => {
  h.clock.set(T0);
  const { before, later } = await seedBucket(2, 5);
  t.strictSame(await h.store.resetCron(2, FROM, 2), { count: 2, hasRemaining: true }, 'first page: 2, more remaining');
  t.strictSame(await zmembers(h.client, h.keys.due(2)), { ...before, [later[0]!]: T0, [later[1]!]: T0 }, 'the two nearest were reset');
  t.strictSame(await h.store.resetCron(2, FROM, 2), { count: 2, hasRemaining: true }, 'second page: 2, more remaining');
  t.strictSame(await h.store.resetCron(2, FROM, 2), { count: 1, hasRemaining: false }, 'third page: the last one');
  t.strictSame(await h.store.resetCron(2, FROM, 2), { count: 0, hasRemaining: false }, 'then nothing');
  t.strictSame(await zmembers(h.client, h.keys.due(2)), { ...before, ...Object.fromEntries(later.map((g) => [g, T0])) }, 'all later entries at now');
});

t.test('a limit equal to the number of candidates reports none remaining', async (t) => {
  h.clock.set(T0);
  await seedBucket(3, 4);
  t.strictSame(await h.store.resetCron(3, FROM, 4), { count: 4, hasRemaining: false }, 'exactly the limit: nothing remains');
});

t.test('a limit of 0 resets nothing and tells whether anything is waiting', async (t) => {
  h.clock.set(T0);
  await seedBucket(4, 1);
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.resetCron(4, FROM, 0), { count: 0, hasRemaining: true }, 'one waiting');
  t.strictSame(await h.store.resetCron(5, FROM, 0), { count: 0, hasRemaining: false }, 'an empty bucket: none');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('replaying a reset finds nothing more and leaves the same end state', async (t) => {
  h.clock.set(T0);
  await seedBucket(6, 2);
  t.strictSame(await h.store.resetCron(6, FROM, 10), { count: 2, hasRemaining: false }, 'first: 2');
  const once = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.resetCron(6, FROM, 10), { count: 0, hasRemaining: false }, 'replay: 0');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seedBucket(7, 2);
  const due = h.keys.due(7);
  const rows: { name: string; args: (string | number)[] }[] = [
    { name: 'from not a number', args: [due, 'x', T0, 10] },
    { name: 'from NaN', args: [due, 'NaN', T0, 10] },
    { name: 'now not a number', args: [due, FROM, 'now', 10] },
    { name: 'now inf', args: [due, FROM, 'inf', 10] },
    { name: 'limit negative', args: [due, FROM, T0, -1] },
    { name: 'limit over 10000', args: [due, FROM, T0, 10_001] },
    { name: 'limit fractional', args: [due, FROM, T0, 1.5] },
    { name: 'limit missing', args: [due, FROM, T0] },
  ];
  const call = raw(h.client, 'resetCron');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  await t.rejects(h.store.resetCron(7, FROM, -5), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'through the store: StoreContractError');
});
