/**
 * The flash sale end to end (issue 4 §3; bench/flash-service.ts): buyers → the flash service →
 * our coordinator (2-phase msg) → the order step, with the stock deducted behind the Redis
 * barrier. 10x more concurrent buyers than stock: stock never below zero, orders created equal
 * stock taken, nothing left prepared, and the barrier keys tell the same story.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import { startFlashService, type FlashService } from '../../bench/flash-service.js';
import { msgBarrier } from '../../src/client/barrier/branch-barrier.js';
import { redisCheckAdjustAmount } from '../../src/client/barrier/redis.js';
import { closeDtmHttp } from '../../src/client/http.js';
import { startTestApp, type TestApp } from '../fixtures/app.js';

let dtm: TestApp;
let redis: Redis;
let svc: FlashService;

t.before(async () => {
  dtm = await startTestApp();
  redis = new Redis(dtm.redis.url, { maxRetriesPerRequest: 1 });
  svc = await startFlashService({ redis, dtm: dtm.dtm });
});
t.teardown(async () => {
  await svc.close();
  await closeDtmHttp();
  redis.disconnect();
  await dtm.stop();
});

interface Buy {
  status: number;
  gid: string;
}

async function buy(gid?: string): Promise<Buy> {
  const res = await fetch(`${svc.url}/flash${gid === undefined ? '' : `?gid=${encodeURIComponent(gid)}`}`);
  const body = (await res.json()) as { gid?: string };
  return { status: res.status, gid: body.gid ?? '' };
}

const num = async (key: string): Promise<number> => Number(await redis.get(key));

t.test('stock 20, 200 concurrent buyers: 20 orders, stock 0, nothing prepared, keys consistent', async (t) => {
  await svc.reset(20);
  // Watch the stock while the sale runs: it must never be seen below zero.
  let lowest = Infinity;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      lowest = Math.min(lowest, await num(svc.keys.stock));
      await new Promise((r) => setImmediate(r));
    }
  })();
  const results = await Promise.all(Array.from({ length: 200 }, () => buy()));
  watching = false;
  await watcher;

  const won = results.filter((r) => r.status === 200);
  const lost = results.filter((r) => r.status === 409);
  t.equal(won.length, 20, '20 buyers got one');
  t.equal(lost.length, 180, '180 were told sold out (409)');
  t.equal(new Set(results.map((r) => r.gid)).size, 200, 'every buyer had its own gid');
  t.ok(
    results.every((r) => r.gid.startsWith('{a}-')),
    'gids carry the {a} hash tag',
  );
  t.equal(await num(svc.keys.stock), 0, 'stock 0');
  t.ok(lowest >= 0, `stock never seen below 0 (lowest ${lowest})`);

  for (const r of won) await dtm.waitStatus(r.gid, 'succeed');
  const lostStatuses = await Promise.all(lost.map(async (r) => (await dtm.query(r.gid)).transaction.status as string));
  t.strictSame([...new Set(lostStatuses)], ['failed'], "every sold-out buyer's msg was aborted (failed)");
  t.equal(await num(svc.keys.orders), 20, 'orders counter = stock taken');
  t.strictSame((await redis.smembers(svc.keys.orderSet)).sort(), won.map((r) => r.gid).sort(), 'the order set is exactly the winning gids');
  t.equal(svc.stats.ordersCreated, 20, 'each order step counted once');

  const prepared = await dtm.get('all?status=prepared&limit=1000');
  t.equal(prepared.status, 200, 'all?status=prepared');
  t.strictSame(
    (prepared.body.transactions ?? []).filter((x: { gid: string }) => x.gid.startsWith('{a}-')),
    [],
    'nothing left prepared',
  );

  const p = redis.pipeline();
  for (const r of results) p.get(`${r.gid}-00-msg-01`).get(`${r.gid}-01-action-01`);
  const vals = ((await p.exec()) ?? []).map(([, v]) => v);
  const keysOf = (i: number): [unknown, unknown] => [vals[2 * i], vals[2 * i + 1]];
  t.ok(
    results.every((r, i) => (r.status === 200 ? keysOf(i)[0] === 'op' && keysOf(i)[1] === 'op' : keysOf(i)[0] === null && keysOf(i)[1] === null)),
    'winners have their msg and order barrier keys; losers have none',
  );
  const ttl = await redis.ttl(`${won[0]!.gid}-00-msg-01`);
  t.ok(ttl > 0 && ttl <= 86400, `barrier keys expire (ttl ${ttl})`);
});

t.test('a buyer that prepared and died before deducting: the check-back fails the msg, and the late deduction cannot happen', async (t) => {
  await svc.reset(5);
  const gid = `{a}-died-before-${process.pid}`;
  const body = { gid, trans_type: 'msg', steps: [{ action: `${svc.url}/flash/order` }], payloads: ['{}'], query_prepared: `${svc.url}/flash/queryPrepared` };
  t.equal((await dtm.post('prepare', body)).status, 200, 'prepared');
  dtm.clock.advance(36_000);
  await dtm.app.poller.tick();
  await dtm.waitStatus(gid, 'failed');
  t.equal(await redis.get(`${gid}-00-msg-01`), 'rollback', 'the check-back marked it rolled back');
  await t.rejects(redisCheckAdjustAmount(redis, msgBarrier(gid), svc.keys.stock, -1, 60), { name: 'DuplicatedError' }, 'the late deduction is refused');
  t.equal(await num(svc.keys.stock), 5, 'stock untouched');
  t.equal(await num(svc.keys.orders), 0, 'no order');
});

t.test('a buyer that deducted and died before submitting: the check-back submits, and the order is created', async (t) => {
  await svc.reset(5);
  const gid = `{a}-died-after-${process.pid}`;
  const body = { gid, trans_type: 'msg', steps: [{ action: `${svc.url}/flash/order` }], payloads: ['{}'], query_prepared: `${svc.url}/flash/queryPrepared` };
  await dtm.post('prepare', body);
  t.equal(await redisCheckAdjustAmount(redis, msgBarrier(gid), svc.keys.stock, -1, 60), 'ran', 'deducted');
  dtm.clock.advance(36_000);
  await dtm.app.poller.tick();
  await dtm.waitStatus(gid, 'succeed');
  t.equal(await num(svc.keys.stock), 4, 'stock 4');
  t.equal(await num(svc.keys.orders), 1, 'one order');
  t.strictSame(await redis.smembers(svc.keys.orderSet), [gid], 'for that gid');
});

t.test('a repeated order step (the coordinator retries) counts the order once', async (t) => {
  await svc.reset(5);
  const gid = `{a}-retried-${process.pid}`;
  const q = new URLSearchParams({ gid, trans_type: 'msg', branch_id: '01', op: 'action' });
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${svc.url}/flash/order?${q}`, { method: 'POST', body: '{}' });
    t.equal(res.status, 200, `call ${i + 1} answers 200`);
    await res.text();
  }
  t.equal(await num(svc.keys.orders), 1, 'one order');
  t.equal(await redis.scard(svc.keys.orderSet), 1, 'one gid in the set');

  // Concurrent repeats: their barrier scripts and SADDs go to Redis together.
  const gid2 = `{a}-retried-together-${process.pid}`;
  const q2 = new URLSearchParams({ gid: gid2, trans_type: 'msg', branch_id: '01', op: 'action' });
  const created = svc.stats.ordersCreated;
  const answers = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const res = await fetch(`${svc.url}/flash/order?${q2}`, { method: 'POST', body: '{}' });
      await res.text();
      return res.status;
    }),
  );
  t.strictSame(answers, [200, 200, 200, 200, 200, 200], '6 concurrent calls answer 200');
  t.equal(await num(svc.keys.orders), 2, 'one more order');
  t.strictSame((await redis.smembers(svc.keys.orderSet)).sort(), [gid, gid2].sort(), 'each gid once in the set');
  t.equal(svc.stats.ordersCreated - created, 1, 'counted once');
});

t.test("gids must carry the stock key's hash tag; the service answers stats", async (t) => {
  const bad = await fetch(`${svc.url}/flash?gid=no-tag-1`);
  t.equal(bad.status, 400, 'a gid without {a} is refused');
  await bad.text();
  await svc.reset(1);
  const ok = await buy(`{a}-given-${process.pid}`);
  t.strictSame(ok, { status: 200, gid: `{a}-given-${process.pid}` }, 'a given gid with the tag is used');
  await dtm.waitStatus(ok.gid, 'succeed');
  const stats = (await (await fetch(`${svc.url}/flash/stats`)).json()) as Record<string, number>;
  t.match(stats, { stock: 0, orders: 1, order_set: 1 }, 'stats');
});
