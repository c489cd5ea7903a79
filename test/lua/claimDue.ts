import t from 'tap';
import { gidsInBucket, raw, seed, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('claimDue');
});
t.teardown(async () => {
  await h.redis.stop();
});

const LEASE = 5000;

/** Fills bucket `b`'s schedule with members `<stem>-<i>` at the given scores. */
async function schedule(b: number, stem: string, scores: number[]): Promise<string[]> {
  const gids = scores.map((_, i) => `${stem}-${i}`);
  await h.client.zadd(h.keys.due(b), ...scores.flatMap((s, i) => [s, gids[i]!]));
  return gids;
}

t.test('takes only due entries, oldest first, up to the limit, and pushes their score to now + lease', async (t) => {
  h.clock.set(T0);
  const [g0, g1, g2, g3, g4, g5] = await schedule(1, 'cd', [T0 - 3000, T0 - 2000, T0 - 1000, T0, T0 + 1, T0 + 10_000]);
  t.strictSame(await h.store.claimDue(1, LEASE, 3), [g0, g1, g2], 'the three oldest due entries');
  t.strictSame(
    await zmembers(h.client, h.keys.due(1)),
    { [g0!]: T0 + LEASE, [g1!]: T0 + LEASE, [g2!]: T0 + LEASE, [g3!]: T0, [g4!]: T0 + 1, [g5!]: T0 + 10_000 },
    'claimed entries are leased, the others untouched',
  );
  t.strictSame(await h.store.claimDue(1, LEASE, 10), [g3], 'an entry scored exactly now is due');
  t.strictSame(
    await zmembers(h.client, h.keys.due(1)),
    { [g0!]: T0 + LEASE, [g1!]: T0 + LEASE, [g2!]: T0 + LEASE, [g3!]: T0 + LEASE, [g4!]: T0 + 1, [g5!]: T0 + 10_000 },
    'now it is leased too',
  );
});

t.test('a second claim at the same time takes nothing and writes nothing', async (t) => {
  h.clock.set(T0);
  await schedule(2, 'cd2', [T0 - 10, T0 - 5, T0 + 5]);
  t.equal((await h.store.claimDue(2, LEASE, 100)).length, 2, 'first claim takes both due entries');
  const once = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.claimDue(2, LEASE, 100), [], 'second claim: nothing');
  t.strictSame(await snapshot(h.client, h.keys), once, 'second claim wrote nothing');
});

t.test('a lease that runs out makes the entry due again', async (t) => {
  h.clock.set(T0);
  const [g0] = await schedule(3, 'cd3', [T0 - 1]);
  t.strictSame(await h.store.claimDue(3, LEASE, 1), [g0], 'claimed');
  h.clock.set(T0 + LEASE - 1);
  t.strictSame(await h.store.claimDue(3, LEASE, 1), [], 'not before the lease ends');
  h.clock.set(T0 + LEASE);
  t.strictSame(await h.store.claimDue(3, LEASE, 1), [g0], 'claimable when the lease ends');
  t.strictSame(await zmembers(h.client, h.keys.due(3)), { [g0!]: T0 + 2 * LEASE }, 'leased again from the new now');
});

t.test('claims only from the given bucket and never touches the records', async (t) => {
  h.clock.set(T0);
  const [inB4] = gidsInBucket(h.keys, 4, 1, 'cd-rec');
  const [inB5] = gidsInBucket(h.keys, 5, 1, 'cd-rec');
  await seed(h, inB4!, 'submitted', { next_cron_time: T0 - 100 });
  await seed(h, inB5!, 'submitted', { next_cron_time: T0 - 100 });
  const record = await h.client.hgetall(h.keys.trans(inB4!));
  t.strictSame(await h.store.claimDue(4, LEASE, 10), [inB4], 'only bucket 4');
  t.strictSame(await h.client.hgetall(h.keys.trans(inB4!)), record, 'the record is unchanged');
  t.equal((await h.store.getTrans(inB4!))?.next_cron_time, T0 + LEASE, 'getTrans reports the leased schedule');
  t.strictSame(await zmembers(h.client, h.keys.due(5)), { [inB5!]: T0 - 100 }, 'bucket 5 untouched');
});

t.test('an empty bucket gives nothing and creates no key', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.claimDue(6, LEASE, 10), [], 'nothing');
  t.strictSame(await snapshot(h.client, h.keys), before, 'no key created');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await schedule(7, 'cd7', [T0 - 2, T0 - 1]);
  const due = h.keys.due(7);
  const rows: { name: string; args: (string | number)[] }[] = [
    { name: 'now not a number', args: [due, 'now', T0 + LEASE, 10] },
    { name: 'now NaN', args: [due, 'NaN', T0 + LEASE, 10] },
    { name: 'lease end not a number', args: [due, T0, 'x', 10] },
    { name: 'lease end inf', args: [due, T0, 'inf', 10] },
    { name: 'limit 0', args: [due, T0, T0 + LEASE, 0] },
    { name: 'limit over 1000', args: [due, T0, T0 + LEASE, 1001] },
    { name: 'limit fractional', args: [due, T0, T0 + LEASE, 2.5] },
    { name: 'limit negative', args: [due, T0, T0 + LEASE, -1] },
    { name: 'limit missing', args: [due, T0, T0 + LEASE] },
  ];
  const call = raw(h.client, 'claimDue');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  await t.rejects(h.store.claimDue(7, LEASE, 0), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'through the store: StoreContractError');
  t.strictSame(await zmembers(h.client, due), { 'cd7-0': T0 - 2, 'cd7-1': T0 - 1 }, 'the schedule is as seeded');
});

t.test('the raw reply is OK then the gids, as Buffers from the Buffer variant', async (t) => {
  h.clock.set(T0);
  await schedule(0, 'cd0', [T0 - 1]);
  const reply = (await raw(h.client, 'claimDue', true)(h.keys.due(0), T0, T0 + LEASE, 5)) as unknown[];
  t.strictSame(
    reply.map((v) => (Buffer.isBuffer(v) ? v.toString() : v)),
    ['OK', 'cd0-0'],
    'tag then gid',
  );
  t.ok(
    reply.every((v) => Buffer.isBuffer(v)),
    'every element is a Buffer',
  );
});
