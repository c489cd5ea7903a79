/**
 * STORE_WAIT_REPLICAS: acknowledged writes wait for a replica (Redis WAIT), one WAIT per loop
 * turn shared by every write of that turn; a replica that lags turns acknowledgements into 503s,
 * and what was written anyway is finished by recovery.
 */
import t from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, startTestApp, type TestApp } from '../fixtures/app.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let master: TestRedis;
let replica: TestRedis;
let dtm: TestApp;
let busi: Busi;

t.before(async () => {
  master = await startTestRedis();
  replica = await startTestRedis(['--replicaof', '127.0.0.1', String(master.server.port)]);
  // The replica is in sync once the master counts it online.
  const deadline = Date.now() + 10_000;
  while (!/slave0:.*state=online/.test(await master.client.info('replication'))) {
    if (Date.now() > deadline) throw new Error('the replica did not come online');
    await new Promise((r) => setTimeout(r, 50));
  }
  busi = await startBusi();
  dtm = await startTestApp({ redis: master, env: { STORE_WAIT_REPLICAS: '1', STORE_WAIT_TIMEOUT_MS: '300' } });
});
t.teardown(async () => {
  await dtm?.stop();
  await busi?.close();
  await replica?.stop();
  await master?.stop();
});

/** WAIT calls the master has served so far. */
async function waitCalls(): Promise<number> {
  const m = /cmdstat_wait:calls=(\d+)/.exec(await master.client.info('commandstats'));
  return m === null ? 0 : Number(m[1]);
}

t.test('with a replica in sync, acknowledged writes succeed, sharing one WAIT per loop turn', async (t) => {
  const before = await waitCalls();
  const gids = Array.from({ length: 40 }, (_, i) => `${gidOf(t.name)}-${i}`);
  const answers = await Promise.all(gids.map((gid) => dtm.post('prepare', { gid, trans_type: 'msg', query_prepared: `${busi.url}/q` })));
  t.ok(
    answers.every((a) => a.status === 200),
    'every prepare answered 200',
  );
  const waits = (await waitCalls()) - before;
  t.ok(waits >= 1 && waits < gids.length, `${gids.length} acknowledged writes took ${waits} WAITs`);
  t.equal(await replica.client.exists(dtm.app.store.keys.trans(gids[0]!)), 1, 'the replica holds the record');
});

t.test('a lagging replica turns the acknowledgement into a 503, and recovery finishes what was written', async (t) => {
  const gid = gidOf(t.name);
  replica.server.process.kill('SIGSTOP');
  let res;
  try {
    const started = Date.now();
    res = await dtm.post('submit', sagaBody(gid, busi.url, [['TransOut', 'TransOutRevert']]));
    t.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms, about the WAIT timeout`);
  } finally {
    replica.server.process.kill('SIGCONT');
  }
  t.match(res, { status: 503, body: { message: /^\[DTM_STORE_UNAVAILABLE\] .*0 of 1 replicas confirmed it within 300 ms/ } }, '503 JSON naming the cause');
  t.notOk('dtm_result' in res.body, 'no dtm_result: the SDKs do not read it as success');
  t.match(await dtm.query(gid), { transaction: { status: 'submitted' } }, 'the saga stands on the master, not driven yet');
  t.equal(busi.calls.filter((c) => c.query['gid'] === gid).length, 0, 'no branch was called for an unacknowledged submit');
  // Recovery: once its lease runs out the poller drives it like any other due transaction.
  dtm.clock.advance(60_000);
  await dtm.app.poller.tick();
  await dtm.waitStatus(gid, 'succeed');
  t.pass('recovery finished it');
});
