/** The README's flash-sale example, run as written (so the documentation cannot rot). */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Msg, barrierFromQuery, defineBarrierScripts, redisCheckAdjustAmount, redisQueryPrepared } from '../../src/client/index.js';
import { useScenario } from '../fixtures/scenario.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

const s = useScenario(t);
let shopRedis: TestRedis;
t.before(async () => {
  shopRedis = await startTestRedis();
});
t.teardown(() => shopRedis.stop());

t.test('README flash sale: one unit of stock, two buyers → one order, stock 0, the loser aborted', async (t) => {
  const redis = new Redis(shopRedis.url);
  defineBarrierScripts(redis);
  await redis.set('{a}--stock-1', '1');
  const buy = async (): Promise<string> => {
    const gid = `{a}-${randomUUID()}`;
    const msg = new Msg(s.dtm.dtm, gid).add(`${s.busi.url}/createOrder`, { user: 42 });
    try {
      await msg.doAndSubmit(`${s.busi.url}/queryPrepared`, async (barrier) => {
        await redisCheckAdjustAmount(redis, barrier, '{a}--stock-1', -1, 86400);
      });
      return gid;
    } catch (err) {
      t.equal((err as Error).name, 'FailureError', 'the sold-out buyer gets a FailureError');
      return '';
    }
  };
  const gids = (await Promise.all([buy(), buy()])).filter((g) => g !== '');
  t.equal(gids.length, 1, 'exactly one buyer got the unit');
  await s.dtm.waitStatus(gids[0]!, 'succeed');
  t.equal(s.busi.callsTo('createOrder').length, 1, 'one order created');
  t.equal(await redis.get('{a}--stock-1'), '0', 'stock is 0, never below');
  // The check-back for the winner says "go"; for an unknown gid it records a rollback and says no.
  await redisQueryPrepared(redis, barrierFromQuery({ trans_type: 'msg', gid: gids[0]!, branch_id: '00', op: 'msg' }), 86400);
  await t.rejects(
    redisQueryPrepared(redis, barrierFromQuery({ trans_type: 'msg', gid: '{a}-never', branch_id: '00', op: 'msg' }), 86400),
    { name: 'FailureError' },
    'an unknown gid is a FailureError',
  );
  redis.disconnect();
});
