import t from 'tap';
import { createKvStore, type KvStore } from '../../src/store/kv.js';
import { raw, snapshot, startStoreHarness, T0, zmembers, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
let kv: KvStore;
t.before(async () => {
  h = await startStoreHarness('kvUpdate');
  kv = createKvStore(h.client, h.keys, h.clock);
});
t.teardown(async () => {
  await h.redis.stop();
});

const NOW = T0 + 1000;

/** Raw kvUpdate arguments (KEYS then ARGV) for (cat, key); `argv` overrides by ARGV index. */
function rawArgs(cat: string, key: string, argv: Record<number, string> = {}, length = 5): string[] {
  const base = [cat, key, '1', 'new', String(NOW)];
  for (const [i, v] of Object.entries(argv)) base[Number(i) - 1] = v;
  return [h.keys.kv(cat, key), ...base.slice(0, length)];
}

async function created(key: string, value = 'v1'): Promise<void> {
  h.clock.set(T0);
  const r = await kv.create('topics', key, value);
  if (r.tag !== 'OK') throw new Error(`create ${key}: ${r.tag}`);
}

t.test('an update with the current version replaces the value, bumps the version and the update time', async (t) => {
  await created('up');
  h.clock.set(NOW);
  t.strictSame(await kv.update('topics', 'up', 1, 'v2'), { tag: 'OK', version: 2 }, 'OK, version 2');
  t.strictSame(
    await h.client.hgetall(h.keys.kv('topics', 'up')),
    { cat: 'topics', k: 'up', v: 'v2', version: '2', create_time: String(T0), update_time: String(NOW) },
    'value, version and update time written; create time kept',
  );
  t.strictSame(await zmembers(h.client, h.keys.kvIdx('topics')), { up: 0 }, 'the index is unchanged');
});

t.test('the version counts every update from 1', async (t) => {
  await created('count');
  const versions: number[] = [];
  for (let v = 1; v <= 5; v++) {
    const r = await kv.update('topics', 'count', v, `value ${v + 1}`);
    if (r.tag === 'OK') versions.push(r.version);
  }
  t.strictSame(versions, [2, 3, 4, 5, 6], 'versions 2..6');
  t.match(await kv.get('topics', 'count'), { version: 6, v: 'value 6' }, 'the record holds the last one');
});

t.test('a missing record is NOT_FOUND and nothing is created', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await kv.update('topics', 'missing', 1, 'v'), { tag: 'NOT_FOUND' }, 'NOT_FOUND');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('another version than the expected one is STALE with the current version and value, and nothing is written', async (t) => {
  await created('stale');
  await kv.update('topics', 'stale', 1, 'v2');
  for (const expected of [1, 3, 100]) {
    const before = await snapshot(h.client, h.keys);
    t.strictSame(await kv.update('topics', 'stale', expected, 'lost'), { tag: 'STALE', version: 2, v: 'v2' }, `expected ${expected}: STALE 2 v2`);
    t.strictSame(await snapshot(h.client, h.keys), before, `expected ${expected}: nothing written`);
  }
});

t.test('replaying an update answers STALE at expected + 1 with its own value, and the end state is the same', async (t) => {
  await created('replay');
  h.clock.set(NOW);
  t.strictSame(await kv.update('topics', 'replay', 1, 'mine'), { tag: 'OK', version: 2 }, 'first: OK 2');
  const once = await snapshot(h.client, h.keys);
  h.clock.set(NOW + 5000);
  t.strictSame(
    await kv.update('topics', 'replay', 1, 'mine'),
    { tag: 'STALE', version: 2, v: 'mine' },
    'replay: STALE 2 with the same value, which the caller reads as done',
  );
  t.strictSame(await snapshot(h.client, h.keys), once, 'the replay wrote nothing (update time kept)');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  await created('bad');
  const bad: { name: string; args: string[] }[] = [
    { name: 'version not a number', args: rawArgs('topics', 'bad', { 3: 'one' }) },
    { name: 'version zero', args: rawArgs('topics', 'bad', { 3: '0' }) },
    { name: 'version negative', args: rawArgs('topics', 'bad', { 3: '-1' }) },
    { name: 'version fractional', args: rawArgs('topics', 'bad', { 3: '1.5' }) },
    { name: 'version 2^53', args: rawArgs('topics', 'bad', { 3: String(2 ** 53) }) },
    { name: 'version inf', args: rawArgs('topics', 'bad', { 3: 'inf' }) },
    { name: 'now not a number', args: rawArgs('topics', 'bad', { 5: 'now' }) },
    { name: 'now missing', args: rawArgs('topics', 'bad', {}, 4) },
    { name: 'value missing', args: rawArgs('topics', 'bad', {}, 3) },
  ];
  const call = raw(h.client, 'kvUpdate');
  for (const row of bad) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  t.match(await kv.get('topics', 'bad'), { version: 1, v: 'v1' }, 'still version 1');
});

t.test('through the store a bad argument is a StoreContractError', async (t) => {
  await created('bad-store');
  const before = await snapshot(h.client, h.keys);
  await t.rejects(kv.update('topics', 'bad-store', 0, 'v'), { name: 'StoreContractError', message: /DTM_ARGS/ }, 'version 0');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});
