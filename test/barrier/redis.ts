/**
 * The Redis branch barrier (dtm-protocol.md §7.2): redisCheckAdjustAmount and redisQueryPrepared
 * over the scripts in lua/client/, against a private redis-server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import t from 'tap';
import { createBranchBarrier, msgBarrier, type BranchBarrier } from '../../src/client/barrier/branch-barrier.js';
import {
  clientLuaDir,
  defineBarrierScripts,
  redisBarrierKey,
  redisCheckAdjustAmount,
  redisQueryPrepared,
  REDIS_BARRIER_SCRIPTS,
} from '../../src/client/barrier/redis.js';
import { coalesceRedisWrites } from '../../src/store/write-coalescing.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let server: TestRedis;
let redis: Redis;

t.before(async () => {
  server = await startTestRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
});
t.teardown(async () => {
  redis.disconnect();
  await server.stop();
});

let n = 0;
/** A fresh hash-tagged gid and stock key, with `stock` in it. */
async function fresh(stock: number | null = 10): Promise<{ gid: string; key: string }> {
  n += 1;
  const tag = `{t${n}}`;
  const key = `${tag}--stock-1`;
  if (stock !== null) await redis.set(key, String(stock));
  return { gid: `${tag}-g${n}`, key };
}

const bb = (gid: string, op: string, transType = 'tcc', branchId = '01'): BranchBarrier => createBranchBarrier({ transType, gid, branchId, op });
const stockOf = async (key: string): Promise<number> => Number(await redis.get(key));

// First in the file: the SDK remembers the last expiry it checked, so a bad one must be refused
// before any good one was seen too.
t.test('a bad expiry is refused, first call of the process included', async (t) => {
  const { gid, key } = await fresh(3);
  for (const expire of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, expire), RangeError, `expiry ${expire}`);
    await t.rejects(redisQueryPrepared(redis, msgBarrier(gid), expire), RangeError, `check-back expiry ${expire}`);
  }
  t.equal(await stockOf(key), 3, 'nothing taken');
});

t.test('the scripts follow the Lua conventions: shebang, header naming their keys and argv', async (t) => {
  const files = readdirSync(clientLuaDir())
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -4))
    .sort();
  t.strictSame(files, REDIS_BARRIER_SCRIPTS.map((s) => s.name).sort(), 'lua/client/*.lua are the registered scripts');
  for (const s of REDIS_BARRIER_SCRIPTS) {
    const src = readFileSync(`${clientLuaDir()}${s.name}.lua`, 'utf8');
    const lines = src.split('\n');
    t.equal(lines[0], '#!lua', `${s.name}: shebang`);
    t.match(lines[1], new RegExp(`^--\\[\\[ ${s.name}: `), `${s.name}: the header title is the script name`);
    const header = src.slice(0, src.indexOf(']]'));
    t.strictSame(
      [...header.matchAll(/KEYS\[(\d+)\]\s+(\w+)/g)].map((m) => m[2]),
      [...s.keys],
      `${s.name}: header keys = registry keys`,
    );
    t.ok(await redis.script('LOAD', src), `${s.name}: loads`);
  }
});

t.test('a deduction takes stock once; a repeat of the same op is skipped (idempotency)', async (t) => {
  const { gid, key } = await fresh(2);
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60), 'ran', 'deducted');
  t.equal(await stockOf(key), 1, 'stock 1');
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60), 'duplicate', 'the repeat is skipped');
  t.equal(await stockOf(key), 1, 'still 1');
  t.equal(await redis.get(redisBarrierKey(gid, '01', 'try', '01')), 'op', "the barrier key holds DTM's value");
  const ttl = await redis.ttl(redisBarrierKey(gid, '01', 'try', '01'));
  t.ok(ttl > 0 && ttl <= 60, `the barrier key expires (ttl ${ttl})`);
});

t.test('not enough stock, or no stock key → FailureError 409, nothing written', async (t) => {
  const { gid, key } = await fresh(0);
  await t.rejects(redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60), { name: 'FailureError', status: 409 }, 'stock 0');
  t.equal(await redis.exists(redisBarrierKey(gid, '01', 'try', '01')), 0, 'no barrier key');
  const missing = await fresh(null);
  await t.rejects(redisCheckAdjustAmount(redis, bb(missing.gid, 'try'), missing.key, -1, 60), { name: 'FailureError' }, 'no stock key');
  t.equal(await redis.exists(missing.key), 0, 'the stock key is not created');
});

t.test('FAILURE is checked before DUPLICATE, as DTM does', async (t) => {
  const { gid, key } = await fresh(1);
  await redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60);
  await t.rejects(redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60), { name: 'FailureError' }, 'a repeat with stock now 0 reports FAILURE');
  t.equal(await stockOf(key), 0, 'taken once');
});

t.test('a cancel before its try is a null compensation; the late try hangs (is skipped)', async (t) => {
  const { gid, key } = await fresh(5);
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'cancel'), key, 1, 60), 'null-compensation', 'cancel adjusted nothing');
  t.equal(await stockOf(key), 5, 'stock unchanged by the cancel');
  t.equal(await redis.get(redisBarrierKey(gid, '01', 'try', '01')), 'rollback', 'the try key is set to rollback');
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 60), 'duplicate', 'the late try is skipped');
  t.equal(await stockOf(key), 5, 'stock unchanged by the late try');
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'cancel'), key, 1, 60), 'duplicate', 'a repeated cancel is skipped');
});

t.test('try then cancel gives the stock back once; compensate and workflow rollback work the same', async (t) => {
  const { gid, key } = await fresh(5);
  await redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -2, 60);
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'cancel'), key, 2, 60), 'ran', 'cancel ran');
  t.equal(await redisCheckAdjustAmount(redis, bb(gid, 'cancel'), key, 2, 60), 'duplicate', 'repeated cancel skipped');
  t.equal(await stockOf(key), 5, 'restored once');

  const s = await fresh(5);
  t.equal(await redisCheckAdjustAmount(redis, bb(s.gid, 'compensate', 'saga'), s.key, 1, 60), 'null-compensation', 'saga compensate first');
  t.equal(await redisCheckAdjustAmount(redis, bb(s.gid, 'action', 'saga'), s.key, -1, 60), 'duplicate', 'late saga action skipped');
  const w = await fresh(5);
  t.equal(await redisCheckAdjustAmount(redis, bb(w.gid, 'rollback', 'workflow'), w.key, 1, 60), 'null-compensation', 'workflow rollback first');
  t.equal(await redisCheckAdjustAmount(redis, bb(w.gid, 'action', 'workflow'), w.key, -1, 60), 'duplicate', 'late workflow action skipped');
  t.equal((await stockOf(s.key)) + (await stockOf(w.key)), 10, 'nothing adjusted');
});

t.test('msg: a repeated DoAndSubmit deduction → DuplicatedError, taken once', async (t) => {
  const { gid, key } = await fresh(3);
  t.equal(await redisCheckAdjustAmount(redis, msgBarrier(gid), key, -1, 60), 'ran', 'first');
  await t.rejects(redisCheckAdjustAmount(redis, msgBarrier(gid), key, -1, 60), { name: 'DuplicatedError' }, 'second → DUPLICATED');
  t.equal(await stockOf(key), 2, 'taken once');
  t.ok(await redis.exists(`${gid}-00-msg-01`), 'the msg key is <gid>-00-msg-01');
});

t.test('QueryPrepared before the deduction → FAILURE, and the deduction can no longer happen; after → success', async (t) => {
  const { gid, key } = await fresh(3);
  const q = { transType: 'msg', gid, branchId: '00', op: 'msg' };
  await t.rejects(redisQueryPrepared(redis, q, 60), { name: 'FailureError', status: 409 }, 'before → FAILURE');
  t.equal(await redis.get(`${gid}-00-msg-01`), 'rollback', 'marked rollback');
  await t.rejects(redisQueryPrepared(redis, q, 60), { name: 'FailureError' }, 'asked again → FAILURE');
  await t.rejects(redisCheckAdjustAmount(redis, msgBarrier(gid), key, -1, 60), { name: 'DuplicatedError' }, 'a late deduction is refused');
  t.equal(await stockOf(key), 3, 'no stock taken');

  const after = await fresh(3);
  await redisCheckAdjustAmount(redis, msgBarrier(after.gid), after.key, -1, 60);
  await redisQueryPrepared(redis, { ...q, gid: after.gid }, 60);
  t.pass('after → success');
  t.equal(await stockOf(after.key), 2, 'taken once');
});

t.test('bad arguments are refused before anything is written', async (t) => {
  const { gid, key } = await fresh(3);
  await t.rejects(redisCheckAdjustAmount(redis, bb(gid, 'try'), key, 1.5, 60), RangeError, 'a fractional amount');
  await t.rejects(redisCheckAdjustAmount(redis, bb(gid, 'try'), key, -1, 0), RangeError, 'a zero expiry');
  defineBarrierScripts(redis);
  const raw = redis as unknown as { redisCheckAdjustAmount(...a: string[]): Promise<unknown> };
  await t.rejects(raw.redisCheckAdjustAmount(key, `${gid}-x`, `${gid}-y`, 'nan', '', '60'), /DTM_ARGS ARGV\[1\]/, 'the script checks amount');
  await t.rejects(raw.redisCheckAdjustAmount(key, `${gid}-x`, `${gid}-y`, '-1', '', '1.5'), /DTM_ARGS ARGV\[3\]/, 'the script checks expire');
  await redis.set(key, 'many');
  await t.rejects(raw.redisCheckAdjustAmount(key, `${gid}-x`, `${gid}-y`, '-1', '', '60'), /DTM_STATE/, 'a stock key that is not an integer');
  t.equal(await redis.exists(`${gid}-x`), 0, 'no barrier key written on any of them');
});

t.test('cluster-safe keys: a gid and a stock key with the same hash tag map every key to one slot', async (t) => {
  const gid = '{a}-6gQYUhKBmWbUaKD6pGXhPH';
  const slot = calculateSlot('{a}--stock-1');
  for (const op of ['msg', 'action', 'try', 'cancel', '']) {
    t.equal(calculateSlot(redisBarrierKey(gid, '01', op, '01')), slot, `barrier key of op '${op}'`);
  }
  t.equal(calculateSlot(redisBarrierKey(gid, '00', 'msg', '01')), slot, 'the msg key of query_prepared');
});

t.test('concurrent buyers never take more than the stock', async (t) => {
  const { key } = await fresh(7);
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => redisCheckAdjustAmount(redis, msgBarrier(`{t${n}}-buyer-${i}`), key, -1, 60)));
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 7, '7 deductions');
  t.equal(results.filter((r) => r.status === 'rejected' && (r.reason as Error).name === 'FailureError').length, 43, '43 failures');
  t.equal(await stockOf(key), 0, 'stock 0, never below');
});

t.test('pipelined: calls issued together go out in one write and keep the barrier exact', async (t) => {
  // A second connection whose writes of one event-loop turn leave in one socket write, as the
  // flash service's do: Redis then runs the scripts back to back, in the order they were issued.
  const piped = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  coalesceRedisWrites(piped);
  await piped.connect();
  t.teardown(() => piped.disconnect());

  const a = await fresh(5);
  const same = await Promise.allSettled(Array.from({ length: 5 }, () => redisCheckAdjustAmount(piped, msgBarrier(a.gid), a.key, -1, 60)));
  t.strictSame(
    same.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).name)),
    ['ran', 'DuplicatedError', 'DuplicatedError', 'DuplicatedError', 'DuplicatedError'],
    'the same msg deduction 5 times in one write: the first runs, the rest are DUPLICATED',
  );
  t.equal(await stockOf(a.key), 4, 'taken once');

  const b = await fresh(5);
  const nullComp = await Promise.all([
    redisCheckAdjustAmount(piped, bb(b.gid, 'cancel'), b.key, 1, 60),
    redisCheckAdjustAmount(piped, bb(b.gid, 'try'), b.key, -1, 60),
  ]);
  t.strictSame(nullComp, ['null-compensation', 'duplicate'], 'cancel then try in one write: null compensation, the try hangs');
  t.equal(await stockOf(b.key), 5, 'nothing adjusted');

  const c = await fresh(5);
  const both = await Promise.all([
    redisCheckAdjustAmount(piped, bb(c.gid, 'try'), c.key, -2, 60),
    redisCheckAdjustAmount(piped, bb(c.gid, 'cancel'), c.key, 2, 60),
  ]);
  t.strictSame(both, ['ran', 'ran'], 'try then cancel in one write: both run');
  t.equal(await stockOf(c.key), 5, 'given back');

  // The flash order step: the barrier and an idempotent SADD sent together, the step retried.
  const d = await fresh(0);
  const set = `${d.key}-set`;
  const steps = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const [outcome] = await Promise.all([redisCheckAdjustAmount(piped, bb(d.gid, 'action', 'msg'), d.key, 1, 60), piped.sadd(set, d.gid)]);
      return outcome;
    }),
  );
  t.strictSame(steps, ['ran', 'duplicate', 'duplicate'], 'a step and two retries in one write: counted once');
  t.equal(await stockOf(d.key), 1, 'the counter is 1');
  t.strictSame(await redis.smembers(set), [d.gid], 'the set holds the gid once');
});

t.test('EVALSHA: after SCRIPT FLUSH (a restarted or failed-over Redis) pipelined calls reload the script and stay exact', async (t) => {
  const piped = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  coalesceRedisWrites(piped);
  await piped.connect();
  t.teardown(() => piped.disconnect());
  const warm = await fresh(5);
  await redisCheckAdjustAmount(piped, bb(warm.gid, 'try'), warm.key, -1, 60);
  await redisQueryPrepared(piped, { transType: 'msg', gid: warm.gid, branchId: '00', op: 'msg' }, 60).catch(() => undefined);
  await redis.script('FLUSH');

  const { gid, key } = await fresh(3);
  const results = await Promise.allSettled([
    ...Array.from({ length: 4 }, () => redisCheckAdjustAmount(piped, msgBarrier(gid), key, -1, 60)),
    redisQueryPrepared(piped, { transType: 'msg', gid, branchId: '00', op: 'msg' }, 60),
  ]);
  t.strictSame(
    results.map((r) => (r.status === 'fulfilled' ? (r.value ?? 'ok') : (r.reason as Error).name)),
    ['ran', 'DuplicatedError', 'DuplicatedError', 'DuplicatedError', 'ok'],
    'one deduction ran, its repeats are DUPLICATED, and the check-back sees it',
  );
  t.equal(await stockOf(key), 2, 'taken once');
  const stats = (await redis.info('commandstats')).match(/cmdstat_eval:calls=(\d+)/);
  t.ok(Number(stats?.[1] ?? 0) >= 2, 'the scripts were resent as EVAL after NOSCRIPT');
});
