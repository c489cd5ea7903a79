import t from 'tap';
import { createKvStore, type KvStore } from '../../src/store/kv.js';
import { raw, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
let kv: KvStore;
t.before(async () => {
  h = await startStoreHarness('kvCreate');
  kv = createKvStore(h.client, h.keys, h.clock);
});
t.teardown(async () => {
  await h.redis.stop();
});

const NOW = T0 + 1000;

/** Raw kvCreate arguments (KEYS then ARGV) for (cat, key); `argv` overrides by ARGV index. */
function rawArgs(cat: string, key: string, argv: Record<number, string> = {}, length = 4): string[] {
  const base = [cat, key, '[{"url":"http://u1","remark":""}]', String(NOW)];
  for (const [i, v] of Object.entries(argv)) base[Number(i) - 1] = v;
  return [h.keys.kv(cat, key), h.keys.kvIdx(cat), ...base.slice(0, length)];
}

t.test('a new record is created at version 1 with both times, listed in its cat index, without TTL', async (t) => {
  h.clock.set(NOW);
  t.strictSame(await kv.create('topics', 'orders', 'v1'), { tag: 'OK' }, 'OK');
  t.strictSame(
    await h.client.hgetall(h.keys.kv('topics', 'orders')),
    { cat: 'topics', k: 'orders', v: 'v1', version: '1', create_time: String(NOW), update_time: String(NOW) },
    'the record HASH',
  );
  t.strictSame(await zmembers(h.client, h.keys.kvIdx('topics')), { orders: 0 }, 'the key is in the cat index at score 0');
  t.equal(await h.client.ttl(h.keys.kv('topics', 'orders')), -1, 'KV records never expire (as in DTM)');
  t.strictSame(await kv.get('topics', 'orders'), { cat: 'topics', k: 'orders', v: 'v1', version: 1, create_time: NOW, update_time: NOW }, 'get reads it back');
});

t.test('cats and keys holding colons and non-ASCII text are distinct records', async (t) => {
  h.clock.set(NOW);
  t.strictSame(await kv.create('a:b', 'c', 'one'), { tag: 'OK' }, '(a:b, c) created');
  t.strictSame(await kv.create('a', 'b:c', 'two'), { tag: 'OK' }, '(a, b:c) created: no clash with (a:b, c)');
  t.strictSame(await kv.create('é', '話:{x}', 'three'), { tag: 'OK' }, 'non-ASCII cat and key');
  t.strictSame(
    [await kv.getValue('a:b', 'c'), await kv.getValue('a', 'b:c'), await kv.getValue('é', '話:{x}')],
    ['one', 'two', 'three'],
    'each reads its own value',
  );
  t.strictSame(await zmembers(h.client, h.keys.kvIdx('a')), { 'b:c': 0 }, 'cat a lists only its key');
});

t.test('an existing record is DUP with its version and value, and nothing is written', async (t) => {
  h.clock.set(NOW);
  await kv.create('topics', 'dup', 'first');
  await kv.update('topics', 'dup', 1, 'second');
  const before = await snapshot(h.client, h.keys);
  h.clock.set(NOW + 5000);
  t.strictSame(await kv.create('topics', 'dup', 'other'), { tag: 'DUP', version: 2, v: 'second' }, 'DUP, version 2, current value');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('replaying a create answers DUP at version 1 with its own value, and the end state is the same', async (t) => {
  h.clock.set(NOW);
  t.strictSame(await kv.create('topics', 'replay', 'mine'), { tag: 'OK' }, 'first: OK');
  const once = await snapshot(h.client, h.keys);
  h.clock.set(NOW + 5000);
  t.strictSame(
    await kv.create('topics', 'replay', 'mine'),
    { tag: 'DUP', version: 1, v: 'mine' },
    'replay: DUP 1 with the same value, which the caller reads as done',
  );
  t.strictSame(await snapshot(h.client, h.keys), once, 'the replay wrote nothing (create time kept)');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  const bad: { name: string; args: string[] }[] = [
    { name: 'empty key', args: rawArgs('topics', '') },
    { name: 'now not a number', args: rawArgs('topics', 'b1', { 4: 'now' }) },
    { name: 'now NaN', args: rawArgs('topics', 'b2', { 4: 'nan' }) },
    { name: 'now missing', args: rawArgs('topics', 'b3', {}, 3) },
    { name: 'value missing', args: rawArgs('topics', 'b4', {}, 2) },
  ];
  const call = raw(h.client, 'kvCreate');
  for (const row of bad) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
});

t.test('through the store a bad argument is a StoreContractError', async (t) => {
  const before = await snapshot(h.client, h.keys);
  await t.rejects(kv.create('topics', '', 'v'), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'an empty key');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('the observer sees each call with its reply tag', async (t) => {
  const seen: [string, string][] = [];
  const observed = createKvStore(h.client, h.keys, h.clock, (script, seconds, tag) => {
    if (seconds >= 0) seen.push([script, tag]);
  });
  await observed.create('topics', 'observed', 'v');
  await observed.create('topics', 'observed', 'v');
  await t.rejects(observed.create('topics', '', 'v'), { name: 'StoreContractError' }, 'a contract error');
  t.strictSame(
    seen,
    [
      ['kvCreate', 'OK'],
      ['kvCreate', 'DUP'],
      ['kvCreate', 'ERROR'],
    ],
    'OK, DUP, ERROR',
  );
});
