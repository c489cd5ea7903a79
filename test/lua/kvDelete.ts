import t from 'tap';
import { createKvStore, type KvStore } from '../../src/store/kv.js';
import { raw, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
let kv: KvStore;
t.before(async () => {
  h = await startStoreHarness('kvDelete');
  kv = createKvStore(h.client, h.keys, h.clock);
});
t.teardown(async () => {
  await h.redis.stop();
});

t.test('a delete removes the record and its index entry, and leaves the rest of the cat', async (t) => {
  h.clock.set(T0);
  await kv.create('topics', 'gone', 'v');
  await kv.create('topics', 'kept', 'v');
  t.equal(await kv.delete('topics', 'gone'), 'OK', 'OK');
  t.equal(await h.client.exists(h.keys.kv('topics', 'gone')), 0, 'the record is gone');
  t.strictSame(await zmembers(h.client, h.keys.kvIdx('topics')), { kept: 0 }, 'only the other key is listed');
  t.equal(await kv.getValue('topics', 'kept'), 'v', 'the other record is untouched');
  t.strictSame(await kv.create('topics', 'gone', 'again'), { tag: 'OK' }, 'the key can be created again, at version 1');
  t.match(await kv.get('topics', 'gone'), { version: 1, v: 'again' }, 'a fresh record');
});

t.test('deleting the last key of a cat leaves no index behind', async (t) => {
  await kv.create('solo', 'only', 'v');
  t.equal(await kv.delete('solo', 'only'), 'OK', 'OK');
  t.equal(await h.client.exists(h.keys.kvIdx('solo')), 0, 'the empty index ZSET is gone');
});

t.test('a missing record is NOT_FOUND and nothing is written', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.equal(await kv.delete('topics', 'never'), 'NOT_FOUND', 'NOT_FOUND');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('replaying a delete answers NOT_FOUND and the end state is the same', async (t) => {
  await kv.create('topics', 'replay', 'v');
  t.equal(await kv.delete('topics', 'replay'), 'OK', 'first: OK');
  const once = await snapshot(h.client, h.keys);
  t.equal(await kv.delete('topics', 'replay'), 'NOT_FOUND', 'replay: NOT_FOUND');
  t.strictSame(await snapshot(h.client, h.keys), once, 'the replay wrote nothing');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  await kv.create('topics', 'bad', 'v');
  await kv.create('topics', 'other', 'v');
  const bad: { name: string; args: string[] }[] = [
    { name: 'key missing', args: [h.keys.kv('topics', 'bad'), h.keys.kvIdx('topics'), 'topics'] },
    { name: 'cat and key missing', args: [h.keys.kv('topics', 'bad'), h.keys.kvIdx('topics')] },
  ];
  const call = raw(h.client, 'kvDelete');
  for (const row of bad) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
});
