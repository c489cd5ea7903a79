import { Redis } from 'ioredis';
import t from 'tap';
import { pack } from '../../src/codec.js';
import { encodeRequest } from '../../src/store/request-blob.js';
import { freePort } from '../../src/store/embedded-redis.js';
import { defineScripts } from '../../src/store/scripts.js';
import type { ScriptObserver } from '../../src/store/script-runner.js';
import { createStore } from '../../src/store/store.js';
import { FINISHED_TTL_S, newTrans, request, seed, startStoreHarness, T0, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('store');
});
t.teardown(async () => {
  await h.redis.stop();
});

t.test('getTrans of an unknown gid is undefined', async (t) => {
  t.equal(await h.store.getTrans('st-unknown'), undefined, 'undefined');
});

t.test('ping answers when Redis is up', async (t) => {
  await t.resolves(h.store.ping(), 'ping resolves');
});

t.test('a corrupt record is a StoreContractError, not a wrong answer', async (t) => {
  const req = encodeRequest(request());
  const branch = pack(['01', 'action', 'http://a', '']);
  const rows: [name: string, fields: Record<string, string | Buffer>][] = [
    ['unknown status', { s: 'running', tt: 'saga', n: '0', bs: '', ct: '1', req }],
    ['unknown trans_type', { s: 'submitted', tt: 'batch', n: '0', bs: '', ct: '1', req }],
    ['branch count and status string disagree', { s: 'submitted', tt: 'saga', n: '2', bs: 'p', ct: '1', req }],
    ['missing branch blob', { s: 'submitted', tt: 'saga', n: '1', bs: 'p', ct: '1', req }],
    ['bad branch status code', { s: 'submitted', tt: 'saga', n: '1', bs: 'x', b1: branch, ct: '1', req }],
    ['missing request blob', { s: 'submitted', tt: 'saga', n: '0', bs: '', ct: '1' }],
  ];
  for (const [i, [name, fields]] of rows.entries()) {
    const gid = `st-corrupt-${i}`;
    await h.client.hset(h.keys.trans(gid), fields);
    await t.rejects(h.store.getTrans(gid), { name: 'StoreContractError', status: 500 }, `${name}: StoreContractError`);
  }
});

t.test('a key of the wrong type is a StoreContractError', async (t) => {
  await h.client.set(h.keys.trans('st-wrongtype'), 'x');
  await t.rejects(h.store.changeStatus('st-wrongtype', 'submitted', 'succeed', {}), { name: 'StoreContractError', message: /WRONGTYPE/ }, 'changeStatus');
  await t.rejects(h.store.getTrans('st-wrongtype'), { name: 'StoreContractError', message: /WRONGTYPE/ }, 'getTrans');
});

t.test('the observer sees every script call with its duration and reply tag', async (t) => {
  const calls: Parameters<ScriptObserver>[] = [];
  const store = createStore(h.client, h.keys, h.clock, { finishedDataExpireS: FINISHED_TTL_S, observe: (...args) => calls.push(args) });
  h.clock.set(T0);
  await store.createTrans(newTrans('st-observed'), 'submit');
  await store.createTrans(newTrans('st-observed'), 'submit');
  await store.changeStatus('st-observed', 'prepared', 'submitted', {});
  await store.saveProgress('st-missing', 'submitted', {});
  await t.rejects(store.claimDue(0, 1000, 0), { name: 'StoreContractError' }, 'a bad limit');
  t.strictSame(
    calls.map(([script, , tag]) => [script, tag]),
    [
      ['createTrans', 'OK'],
      ['createTrans', 'EXISTS'],
      ['changeStatus', 'STALE'],
      ['saveProgress', 'NOT_FOUND'],
      ['claimDue', 'ERROR'],
    ],
    'script and tag per call, ERROR for an error reply',
  );
  t.ok(
    calls.every(([, seconds]) => seconds >= 0 && seconds < 5),
    'durations are in seconds',
  );
});

t.test('an unreachable Redis is a StoreUnavailableError', async (t) => {
  const port = await freePort();
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  defineScripts(client);
  t.teardown(() => client.disconnect());
  const failedReads: string[] = [];
  const scripts: string[] = [];
  const store = createStore(client, h.keys, h.clock, {
    finishedDataExpireS: FINISHED_TTL_S,
    observe: (script, _s, tag) => scripts.push(`${script}:${tag}`),
    readFailed: (read) => failedReads.push(read),
  });
  await t.rejects(store.ping(), { name: 'StoreUnavailableError', status: 503 }, 'ping');
  await t.rejects(store.createTrans(newTrans('st-down'), 'submit'), { name: 'StoreUnavailableError', status: 503 }, 'a script');
  await t.rejects(store.getTrans('st-down'), { name: 'StoreUnavailableError', status: 503 }, 'a read');
  await t.rejects(store.listTrans({ position: '', limit: 3 }), { name: 'StoreUnavailableError', status: 503 }, 'a listing');
  await t.rejects(store.backlog(), { name: 'StoreUnavailableError', status: 503 }, 'the backlog');
  t.strictSame(failedReads, ['ping', 'getTrans', 'listTrans', 'backlog'], 'each failed read is reported once, by name (for dtm_redis_errors_total)');
  t.strictSame(scripts, ['createTrans:ERROR'], 'a failed script is reported by the script runner, not as a read');
});

t.test('a transaction seeded through the store reads back through getTrans', async (t) => {
  h.clock.set(T0);
  await seed(h, 'st-seeded', 'aborting');
  t.match(
    await h.store.getTrans('st-seeded'),
    { gid: 'st-seeded', status: 'aborting', trans_type: 'saga', branches: [{}, {}, {}] },
    'aborting saga with three branches',
  );
});
