/**
 * KV reads: get, getValue, scan paging over the cat index (no SCAN), list, and the error model.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { createKvStore, decodeKv, type KvRecord, type KvStore } from '../../src/store/kv.js';
import { defineScripts } from '../../src/store/scripts.js';
import { startStoreHarness, T0, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
let kv: KvStore;
/** The 23 keys of cat `page`, in lexical order. */
const PAGE_KEYS = Array.from({ length: 23 }, (_, i) => `k:${String(i).padStart(2, '0')}`);

t.before(async () => {
  h = await startStoreHarness('kv');
  kv = createKvStore(h.client, h.keys, h.clock);
  h.clock.set(T0);
  // Created out of order: listings follow the key order, not the creation order.
  for (const k of [...PAGE_KEYS].reverse()) await kv.create('page', k, `value of ${k}`);
  await kv.create('pagex', 'k:00', 'another cat');
  await kv.create('', 'empty-cat', 'cat ""');
});
t.teardown(async () => {
  await h.redis.stop();
});

/** Follows scanKV positions to the end; returns the pages' keys. */
async function pages(cat: string, limit: number): Promise<{ keys: string[][]; positions: string[] }> {
  const keys: string[][] = [];
  const positions: string[] = [];
  let position = '';
  for (let i = 0; i < 100; i++) {
    const page = await kv.scan(cat, position, limit);
    keys.push(page.records.map((r) => r.k));
    positions.push(page.nextPosition);
    position = page.nextPosition;
    if (position === '') break;
  }
  return { keys, positions };
}

t.test('get and getValue read one record; a missing one is undefined', async (t) => {
  t.strictSame(
    await kv.get('page', 'k:05'),
    { cat: 'page', k: 'k:05', v: 'value of k:05', version: 1, create_time: T0, update_time: T0 },
    'get: the whole record',
  );
  t.equal(await kv.getValue('page', 'k:05'), 'value of k:05', 'getValue: the value');
  t.equal(await kv.get('page', 'nope'), undefined, 'get: missing');
  t.equal(await kv.getValue('nope', 'k:05'), undefined, 'getValue: missing');
});

t.test('scan pages a cat in key order and ends with an empty position', async (t) => {
  const { keys, positions } = await pages('page', 10);
  t.strictSame(keys, [PAGE_KEYS.slice(0, 10), PAGE_KEYS.slice(10, 20), PAGE_KEYS.slice(20)], 'pages of 10, 10 and 3 keys in order');
  t.strictSame(positions, ['k:09', 'k:19', ''], 'each position is the last key returned; the last page ends with ""');
});

t.test('a page that ends exactly at the last key already has an empty position', async (t) => {
  const { keys, positions } = await pages('page', 23);
  t.strictSame(keys, [PAGE_KEYS], 'one page with everything');
  t.strictSame(positions, [''], 'no empty extra page');
  const one = await pages('page', 1);
  t.equal(one.keys.length, 23, 'limit 1: 23 pages');
  t.strictSame(one.keys.flat(), PAGE_KEYS, 'limit 1: every key once, in order');
});

t.test('scan stays within its cat; an empty or unknown cat has no records', async (t) => {
  t.strictSame(
    (await kv.scan('pagex', '', 100)).records.map((r) => r.v),
    ['another cat'],
    "cat pagex: its one record, not page's",
  );
  t.strictSame(
    (await kv.scan('', '', 100)).records.map((r) => [r.cat, r.k]),
    [['', 'empty-cat']],
    'cat "" is a cat like any other',
  );
  t.strictSame(await kv.scan('unknown', '', 100), { records: [], nextPosition: '' }, 'unknown cat: nothing, done');
  t.strictSame(await kv.scan('page', 'zzz', 100), { records: [], nextPosition: '' }, 'a position past the end: nothing, done');
});

t.test('a record deleted between the index read and the record read is skipped', async (t) => {
  await kv.create('race', 'a', 'v');
  await kv.create('race', 'b', 'v');
  // An index member without a record can only come from outside the scripts; reads skip it.
  await h.client.zadd(h.keys.kvIdx('race'), 0, 'ghost');
  t.strictSame(
    (await kv.scan('race', '', 10)).records.map((r) => r.k),
    ['a', 'b'],
    'the ghost member is skipped',
  );
  t.strictSame(
    (await kv.list('race', 10)).map((r) => r.k),
    ['a', 'b'],
    'list skips it too',
  );
});

t.test('list returns the first records of a cat in key order, up to max', async (t) => {
  t.strictSame(
    (await kv.list('page', 1000)).map((r) => r.k),
    PAGE_KEYS,
    'all 23',
  );
  t.strictSame(
    (await kv.list('page', 5)).map((r) => r.k),
    PAGE_KEYS.slice(0, 5),
    'max 5',
  );
  t.strictSame(await kv.list('unknown', 10), [], 'unknown cat: []');
});

t.test('scan refuses a limit below 1', async (t) => {
  await t.rejects(kv.scan('page', '', 0), RangeError, 'limit 0');
  await t.rejects(kv.scan('page', '', 1.5), RangeError, 'limit 1.5');
});

t.test('a corrupt record is a StoreContractError', async (t) => {
  await h.client.hset(h.keys.kv('corrupt', 'x'), 'v', 'v', 'version', 'one', 'create_time', '1', 'update_time', '1');
  await h.client.zadd(h.keys.kvIdx('corrupt'), 0, 'x');
  await t.rejects(kv.get('corrupt', 'x'), { name: 'StoreContractError', message: /bad version/ }, 'get: a version that is not a number');
  await t.rejects(kv.scan('corrupt', '', 10), { name: 'StoreContractError' }, 'scan too');
  t.throws(() => decodeKv('c', 'k', { version: '1', create_time: '1', update_time: '1' }), { name: 'StoreContractError', message: /missing v/ }, 'no value');
  t.throws(
    () => decodeKv('c', 'k', { v: '', version: '1', create_time: '', update_time: '1' }),
    { name: 'StoreContractError', message: /bad create_time/ },
    'empty create time',
  );
  t.equal(decodeKv('c', 'k', {}), undefined, 'an empty HASH is no record');
  const wrongType = h.keys.kv('wrongtype', 'x');
  await h.client.set(wrongType, 'a string');
  await t.rejects(kv.get('wrongtype', 'x'), { name: 'StoreContractError', message: /WRONGTYPE/ }, 'a key of the wrong type is a contract error, not an outage');
  await h.client.zadd(h.keys.kvIdx('wrongtype'), 0, 'x');
  await t.rejects(kv.scan('wrongtype', '', 10), { name: 'StoreContractError', message: /WRONGTYPE/ }, 'also inside the pipelined read');
});

t.test('an unreachable Redis is a StoreUnavailableError on every call', async (t) => {
  const dead = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  defineScripts(dead);
  const failedReads: string[] = [];
  const down = createKvStore(dead, h.keys, h.clock, undefined, (read) => failedReads.push(read));
  const calls: [string, () => Promise<unknown>][] = [
    ['create', () => down.create('c', 'k', 'v')],
    ['update', () => down.update('c', 'k', 1, 'v')],
    ['delete', () => down.delete('c', 'k')],
    ['get', () => down.get('c', 'k')],
    ['getValue', () => down.getValue('c', 'k')],
    ['scan', () => down.scan('c', '', 10)],
    ['list', () => down.list('c', 10)],
  ];
  for (const [name, call] of calls) await t.rejects(call(), { name: 'StoreUnavailableError' }, `${name}: StoreUnavailableError`);
  t.strictSame(failedReads, ['kvGet', 'kvGet', 'kvScan', 'kvScan'], 'the failed reads are reported (get, getValue, scan, list)');
  dead.disconnect();
});

t.test('records round-trip whatever their text', async (t) => {
  const value = '[{"url":"http://x/a?b=1\\u0026c=2","remark":"é話 😀"}]';
  await kv.create('text', 'k', value);
  const r = (await kv.get('text', 'k')) as KvRecord;
  t.equal(r.v, value, 'the value is stored byte for byte');
});
