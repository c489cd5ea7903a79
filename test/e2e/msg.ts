/**
 * MSG (2-phase message) scenarios, named after DTM's tests and the conformance items of
 * dtm-protocol.md §13 (45-53). Time moves with the fake clock and the cron runs with
 * poller.tick(); no sleeps stand in for time. Defaults: RETRY_INTERVAL 10 s, TIMEOUT_TO_FAIL 35 s.
 */
import t from 'tap';
import { startBusi, type Busi, type BusiCall } from '../fixtures/busi.js';
import { gidOf, startTestApp, type TestApp } from '../fixtures/app.js';

let dtm: TestApp;
let busi: Busi;

t.before(async () => {
  dtm = await startTestApp({ env: { RETRY_INTERVAL: '10', TIMEOUT_TO_FAIL: '35' } });
  busi = await startBusi();
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
});

/** Calls the business service received for one gid (other tests' leftovers never count). */
const callsOf = (gid: string): BusiCall[] => busi.calls.filter((c) => c.query['gid'] === gid);
/** [method, path, op] of each call for a gid. */
const seq = (gid: string): [string, string, string | undefined][] => callsOf(gid).map((c) => [c.method, c.path, c.query['op']]);
const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);
/** A record time (RFC 3339 string) as ms. */
const ms = (time: string): number => Date.parse(time);

/** Waits until no round of `gid` is in flight (the background round a submit starts). */
async function settle(gid: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (dtm.app.engine.active.has(gid)) {
    if (Date.now() > deadline) throw new Error(`round of ${gid} did not finish`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A msg body with one action per path on the busi service; `tag` keeps paths distinct per test. */
function msgBody(gid: string, paths: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gid,
    trans_type: 'msg',
    steps: paths.map((p) => ({ action: `${busi.url}/${p}` })),
    payloads: paths.map((_, i) => JSON.stringify({ amount: 30, step: i })),
    ...extra,
  };
}

const SUCCESS = { status: 200, body: { dtm_result: 'SUCCESS' } };

t.test('45. msg: normal — actions POSTed in order with payload and DTM query params, then succeed', async (t) => {
  const gid = gidOf(t.name);
  const body = msgBody(gid, ['i45-TransOut', 'i45-TransIn']);
  t.strictSame(await dtm.post('submit', body), SUCCESS, 'submit answers 200 SUCCESS at once');
  const q = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    callsOf(gid).map((c) => [c.method, c.path, c.query, c.body]),
    [
      ['POST', 'i45-TransOut', { branch_id: '01', gid, op: 'action', trans_type: 'msg' }, (body['payloads'] as string[])[0]],
      ['POST', 'i45-TransIn', { branch_id: '02', gid, op: 'action', trans_type: 'msg' }, (body['payloads'] as string[])[1]],
    ],
    'action 01 then action 02, POST with the payload, op=action, trans_type=msg',
  );
  t.match(callsOf(gid)[0]!.headers['content-type'], /application\/json/, 'Content-Type is application/json');
  t.strictSame(
    q.branches.map((b: { branch_id: string; op: string; status: string }) => [b.branch_id, b.op, b.status]),
    [
      ['01', 'action', 'succeed'],
      ['02', 'action', 'succeed'],
    ],
    'branches [succeed, succeed], one action per step',
  );
  t.match(q.transaction, { status: 'succeed', trans_type: 'msg', finish_time: String }, 'global succeed with finish_time');
});

t.test('46. msg: concurrent — with concurrent:true the slow actions overlap in time', async (t) => {
  const gid = gidOf(t.name);
  busi.delay('i46-TransOut', 300);
  busi.delay('i46-TransIn', 300);
  t.strictSame(await dtm.post('submit', msgBody(gid, ['i46-TransOut', 'i46-TransIn'], { concurrent: true })), SUCCESS, 'submit → 200');
  const q = await dtm.waitStatus(gid, 'succeed');
  const [a, b] = [callsOf(gid).find((c) => c.path === 'i46-TransOut')!, callsOf(gid).find((c) => c.path === 'i46-TransIn')!];
  t.ok(a && b, 'both actions were called');
  t.ok(Math.max(a.at, b.at) < Math.min(a.doneAt, b.doneAt), `the calls overlap: started ${a.at}/${b.at}, answered ${a.doneAt}/${b.doneAt}`);
  t.strictSame(statuses(q), ['succeed', 'succeed'], 'both branches succeed');
  t.match(q.transaction.options, /"concurrent":true/, 'the concurrent option is stored');

  const seqGid = gidOf(`${t.name} sequential`);
  busi.delay('i46-SeqOut', 150);
  busi.delay('i46-SeqIn', 150);
  await dtm.post('submit', msgBody(seqGid, ['i46-SeqOut', 'i46-SeqIn']));
  await dtm.waitStatus(seqGid, 'succeed');
  const [c, d] = callsOf(seqGid);
  t.ok(c !== undefined && d !== undefined && d.at >= c.doneAt, 'without concurrent, action 2 starts only after action 1 answered');
});

t.test('47. msg: action 409 is retried with backoff, never failed; succeeds once the busi does', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i47-TransOut', 'FAILURE', 'FAILURE');
  const t0 = dtm.clock.now();
  t.strictSame(await dtm.post('submit', msgBody(gid, ['i47-TransOut', 'i47-TransIn'])), SUCCESS, 'submit → 200');
  await settle(gid);
  let q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'still submitted, interval doubled 10 → 20');
  t.notOk('rollback_reason' in q.transaction, 'no rollback reason (omitted when empty, as DTM does)');
  t.equal(ms(q.transaction.next_cron_time), t0 + 20_000, 'next_cron_time = now + 20 s');
  t.strictSame(statuses(q), ['prepared', 'prepared'], 'no branch failed; action 2 not reached');

  dtm.clock.advance(19_000);
  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 1, 'not retried before next_cron_time');

  dtm.clock.advance(1_000);
  await dtm.app.poller.tick();
  q = await dtm.query(gid);
  t.equal(callsOf(gid).length, 2, 'retried once at next_cron_time');
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 40 }, 'second 409: still submitted, interval 40');
  t.equal(ms(q.transaction.next_cron_time), dtm.clock.now() + 40_000, 'next_cron_time = now + 40 s');

  dtm.clock.advance(40_000);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['POST', 'i47-TransOut', 'action'],
      ['POST', 'i47-TransOut', 'action'],
      ['POST', 'i47-TransOut', 'action'],
      ['POST', 'i47-TransIn', 'action'],
    ],
    'action 1 three times (409, 409, 200), then action 2',
  );
  q = await dtm.query(gid);
  t.match(q.transaction, { status: 'succeed' }, 'succeed after the busi recovered');
  t.strictSame(statuses(q), ['succeed', 'succeed'], 'both branches succeed');
});

t.test('48. msg: query prepared — after the timeout the check-back GET says yes, then the actions run in that round', async (t) => {
  const gid = gidOf(t.name);
  const t0 = dtm.clock.now();
  const body = msgBody(gid, ['i48-TransOut', 'i48-TransIn'], { query_prepared: `${busi.url}/i48-QueryPrepared` });
  t.strictSame(await dtm.post('prepare', body), SUCCESS, 'prepare → 200');

  dtm.clock.advance(10_000);
  await dtm.app.poller.tick();
  dtm.clock.advance(24_000); // 34 s after prepare: still before TIMEOUT_TO_FAIL
  await dtm.app.poller.tick();
  t.strictSame(callsOf(gid), [], 'no call of any kind before the timeout');
  t.equal((await dtm.query(gid)).transaction.status, 'prepared', 'still prepared at 34 s');

  dtm.clock.advance(1_000); // 35 s
  await dtm.app.poller.tick();
  t.ok(dtm.clock.now() - t0 >= 35_000, 'the check-back came no earlier than the timeout');
  const [check] = callsOf(gid);
  t.match(
    check,
    { method: 'GET', path: 'i48-QueryPrepared', query: { branch_id: '00', gid, op: 'msg', trans_type: 'msg' }, body: '' },
    'GET query_prepared with branch_id=00, op=msg, trans_type=msg and no body',
  );
  t.strictSame(Object.keys(check!.query).sort(), ['branch_id', 'gid', 'op', 'trans_type'], 'no other query params (no dtm)');
  t.strictSame(
    seq(gid),
    [
      ['GET', 'i48-QueryPrepared', 'msg'],
      ['POST', 'i48-TransOut', 'action'],
      ['POST', 'i48-TransIn', 'action'],
    ],
    'the actions ran in the same round, right after the check-back',
  );
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'succeed' }, 'succeed after that one tick');
  t.strictSame(statuses(q), ['succeed', 'succeed'], 'both branches succeed');
});

t.test('49. msg: query prepared answers 409 → failed, no action called, branches stay prepared', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i49-QueryPrepared', 'FAILURE');
  await dtm.post('prepare', msgBody(gid, ['i49-TransOut', 'i49-TransIn'], { query_prepared: `${busi.url}/i49-QueryPrepared` }));
  dtm.clock.advance(35_000);
  await dtm.app.poller.tick();
  t.strictSame(seq(gid), [['GET', 'i49-QueryPrepared', 'msg']], 'only the check-back was called');
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_time: String }, 'global failed');
  t.strictSame(statuses(q), ['prepared', 'prepared'], 'branches stay prepared');

  dtm.clock.advance(3_600_000);
  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 1, 'nothing more happens later');
});

t.test('50. msg: query prepared answers 425 → stays prepared, asked again after the base interval', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i50-QueryPrepared', 'ONGOING');
  await dtm.post('prepare', msgBody(gid, ['i50-TransOut'], { query_prepared: `${busi.url}/i50-QueryPrepared` }));
  dtm.clock.advance(35_000);
  await dtm.app.poller.tick();
  t.strictSame(seq(gid), [['GET', 'i50-QueryPrepared', 'msg']], 'the check-back was called once');
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'prepared', next_cron_interval: 10 }, 'still prepared, interval reset to the base 10 s');
  const next = ms(q.transaction.next_cron_time);
  t.ok(Math.abs(next - (dtm.clock.now() + 10_000)) <= 1000, `next_cron_time ≈ now + 10 s (got now + ${next - dtm.clock.now()} ms)`);
  t.strictSame(statuses(q), ['prepared'], 'the action branch is untouched');

  dtm.clock.advance(9_000);
  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 1, 'not asked again before the interval');

  dtm.clock.advance(1_000);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['GET', 'i50-QueryPrepared', 'msg'],
      ['GET', 'i50-QueryPrepared', 'msg'],
      ['POST', 'i50-TransOut', 'action'],
    ],
    'asked again 10 s later; it said yes, so the action ran',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'then succeed');
});

t.test('51. msg: prepared then abort → 200, failed, no calls ever', async (t) => {
  const gid = gidOf(t.name);
  const body = msgBody(gid, ['i51-TransOut'], { query_prepared: `${busi.url}/i51-QueryPrepared` });
  await dtm.post('prepare', body);
  t.strictSame(await dtm.post('abort', { gid, trans_type: 'msg' }), SUCCESS, 'abort → 200 SUCCESS');
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_time: String }, 'status failed');
  t.strictSame(statuses(q), ['prepared'], 'branch untouched');
  t.strictSame(
    await dtm.post('abort', { gid, trans_type: 'msg' }),
    { status: 409, body: { dtm_result: 'FAILURE', message: "trans type: 'msg' current status 'failed', cannot abort. FAILURE" } },
    'a second abort → 409',
  );
  t.strictSame(
    await dtm.post('submit', body),
    { status: 409, body: { dtm_result: 'FAILURE', message: "current status 'failed', cannot sumbmit. FAILURE" } },
    'submit after abort → 409',
  );
  dtm.clock.advance(3_600_000);
  await dtm.app.poller.tick();
  t.strictSame(callsOf(gid), [], 'no check-back and no action, even an hour later');
});

t.test('52. msg: prepared then submitted before the timeout → no check-back, actions run', async (t) => {
  const gid = gidOf(t.name);
  const body = msgBody(gid, ['i52-TransOut', 'i52-TransIn'], { query_prepared: `${busi.url}/i52-QueryPrepared` });
  await dtm.post('prepare', body);
  dtm.clock.advance(5_000);
  t.strictSame(await dtm.post('submit', body), SUCCESS, 'submit of the prepared msg → 200');
  await dtm.waitStatus(gid, 'succeed');
  dtm.clock.advance(3_600_000);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['POST', 'i52-TransOut', 'action'],
      ['POST', 'i52-TransIn', 'action'],
    ],
    'only the actions, never the check-back',
  );
});

t.test('53. msg: custom_data {"delay":10} → no action for 10 s of clock time, then the actions run', async (t) => {
  const gid = gidOf(t.name);
  const t0 = dtm.clock.now();
  t.strictSame(await dtm.post('submit', msgBody(gid, ['i53-TransOut', 'i53-TransIn'], { custom_data: '{"delay":10}' })), SUCCESS, 'submit → 200');
  await settle(gid);
  let q = await dtm.query(gid);
  t.strictSame(callsOf(gid), [], 'no action right after submit');
  t.match(q.transaction, { status: 'submitted', custom_data: '{"delay":10}', next_cron_interval: 10 }, 'submitted, delay stored, interval unchanged');
  t.equal(ms(q.transaction.next_cron_time), t0 + 10_000, 'scheduled for now + delay');

  dtm.clock.advance(5_000);
  await dtm.app.poller.tick();
  dtm.clock.advance(4_999);
  await dtm.app.poller.tick();
  t.strictSame(callsOf(gid), [], 'no action before 10 s');

  dtm.clock.advance(1);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['POST', 'i53-TransOut', 'action'],
      ['POST', 'i53-TransIn', 'action'],
    ],
    'at 10 s the actions run',
  );
  q = await dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'succeed');
});

t.test('msg: wait_result — submit answers 200 only after the actions ran', async (t) => {
  const gid = gidOf(t.name);
  busi.delay('i-wait-TransOut', 100);
  t.strictSame(await dtm.post('submit', msgBody(gid, ['i-wait-TransOut', 'i-wait-TransIn'], { wait_result: true })), SUCCESS, 'submit → 200 SUCCESS');
  t.strictSame(
    seq(gid),
    [
      ['POST', 'i-wait-TransOut', 'action'],
      ['POST', 'i-wait-TransIn', 'action'],
    ],
    'both actions were called before the answer',
  );
  const q = await dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'and the status was already succeed at answer time');
  t.match(q.transaction.options, /"wait_result":true/, 'wait_result is kept in the options');
});

t.test('msg: DoAndSubmit — prepare then submit of the same gid promotes and runs the stored branches', async (t) => {
  const gid = gidOf(t.name);
  const query_prepared = `${busi.url}/i-das-QueryPrepared`;
  t.strictSame(await dtm.post('prepare', msgBody(gid, ['i-das-TransOut', 'i-das-TransIn'], { query_prepared })), SUCCESS, 'prepare → 200');
  // The local transaction ran here; then the SDK submits. A bare body shows the stored branches are used.
  t.strictSame(await dtm.post('submit', { gid, trans_type: 'msg' }), SUCCESS, 'submit → 200');
  const q = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    callsOf(gid).map((c) => [c.method, c.path, c.query['branch_id'], c.body]),
    [
      ['POST', 'i-das-TransOut', '01', JSON.stringify({ amount: 30, step: 0 })],
      ['POST', 'i-das-TransIn', '02', JSON.stringify({ amount: 30, step: 1 })],
    ],
    'the branches stored at prepare ran, with their payloads, and no check-back',
  );
  t.match(q.transaction, { status: 'succeed', query_prepared }, 'succeed; the stored query_prepared is kept');
  t.strictSame(statuses(q), ['succeed', 'succeed'], 'both branches succeed');
});

t.test('msg: DoAndSubmit with the prepare body itself, waiting — the promoted msg calls its branch with its payload, then answers', async (t) => {
  const gid = gidOf(t.name);
  // The flash-sale way: the submit repeats the prepare body byte for byte, so the store answers
  // the promotion without the blobs it was sent (createTrans) and the round runs on the sent ones.
  const body = msgBody(gid, ['i-same-order'], { query_prepared: `${busi.url}/i-same-QueryPrepared`, wait_result: true, custom_data: '{"k":1}' });
  t.strictSame(await dtm.post('prepare', body), SUCCESS, 'prepare → 200');
  t.strictSame(await dtm.post('submit', body), SUCCESS, 'submit → 200 once the branch ran');
  t.strictSame(
    callsOf(gid).map((c) => [c.method, c.path, c.query['branch_id'], c.query['op'], c.body]),
    [['POST', 'i-same-order', '01', 'action', JSON.stringify({ amount: 30, step: 0 })]],
    'the branch was called once, with its payload, and no check-back',
  );
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'succeed', custom_data: '{"k":1}' }, 'succeed at answer time, the request kept');
  t.match(
    await dtm.post('submit', body),
    { status: 409, body: { dtm_result: 'FAILURE', message: "current status 'succeed', cannot sumbmit. FAILURE" } },
    "the same submit again: DTM's 409 for a finished msg (from the record answered without its blobs)",
  );
  t.equal(callsOf(gid).length, 1, 'still one call');
});

t.test('msg: the prepare body resubmitted, waiting, with its action answering 500 → 500 naming the branch URL', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i-same-error', 'ERROR');
  const body = msgBody(gid, ['i-same-error'], { wait_result: true });
  t.strictSame(await dtm.post('prepare', body), SUCCESS, 'prepare → 200');
  t.match(
    await dtm.post('submit', body),
    { status: 500, body: { message: new RegExp(`url:${busi.url}/i-same-error`) } },
    'submit → 500 with the URL of the branch',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'submitted', 'still submitted');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'completes after the backoff');
});

t.test('48. msg: query prepared with timeout_to_fail 5 → checked back at 5 s, not 35 s', async (t) => {
  const gid = gidOf(t.name);
  await dtm.post('prepare', msgBody(gid, ['i48b-TransOut'], { query_prepared: `${busi.url}/i48b-QueryPrepared`, timeout_to_fail: 5 }));
  dtm.clock.advance(4_999);
  await dtm.app.poller.tick();
  t.strictSame(callsOf(gid), [], 'nothing before 5 s');
  dtm.clock.advance(1);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['GET', 'i48b-QueryPrepared', 'msg'],
      ['POST', 'i48b-TransOut', 'action'],
    ],
    'at 5 s: check-back, then the action',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'succeed');
});

t.test('50. msg: query prepared answers 500 → stays prepared with backoff (10 → 20 s)', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i50b-QueryPrepared', 'ERROR');
  await dtm.post('prepare', msgBody(gid, ['i50b-TransOut'], { query_prepared: `${busi.url}/i50b-QueryPrepared` }));
  dtm.clock.advance(35_000);
  await dtm.app.poller.tick();
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'prepared', next_cron_interval: 20 }, 'still prepared, interval doubled');
  t.equal(ms(q.transaction.next_cron_time), dtm.clock.now() + 20_000, 'next_cron_time = now + 20 s');
  dtm.clock.advance(19_999);
  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 1, 'not asked again before 20 s');
  dtm.clock.advance(1);
  await dtm.app.poller.tick();
  t.strictSame(
    seq(gid),
    [
      ['GET', 'i50b-QueryPrepared', 'msg'],
      ['GET', 'i50b-QueryPrepared', 'msg'],
      ['POST', 'i50b-TransOut', 'action'],
    ],
    'asked again at 20 s, then the action ran',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'succeed');
});

t.test('47. msg: action ONGOING keeps the interval (fixed-interval retry), 500 doubles it', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i47b-TransOut', 'ONGOING', 'ERROR');
  await dtm.post('submit', msgBody(gid, ['i47b-TransOut']));
  await settle(gid);
  let q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 10 }, 'ONGOING: interval kept at 10');
  t.equal(ms(q.transaction.next_cron_time), dtm.clock.now() + 10_000, 'next_cron_time = now + 10 s');
  dtm.clock.advance(10_000);
  await dtm.app.poller.tick();
  q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, '500: interval doubled to 20');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 3, 'three calls in all');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'succeed on the third');
});

t.test('msg: wait_result with an action answering ONGOING → 409 "wait result not return success: FAILURE", still submitted', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i-wait-ongoing', 'ONGOING');
  t.strictSame(
    await dtm.post('submit', msgBody(gid, ['i-wait-ongoing'], { wait_result: true })),
    { status: 409, body: { dtm_result: 'FAILURE', message: 'wait result not return success: FAILURE' } },
    'submit → 409 as DTM answers (ProcessOnce returns nil on ONGOING)',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'submitted', 'the msg is still submitted and will be retried');
  dtm.clock.advance(10_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'and completes on the next retry');
});

t.test('msg: wait_result with an action answering 500 → 500 with a message, still submitted', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i-wait-error', 'ERROR');
  const r = await dtm.post('submit', msgBody(gid, ['i-wait-error'], { wait_result: true }));
  t.match(r, { status: 500, body: { message: /i-wait-error/ } }, 'submit → 500 naming the branch');
  t.notOk('dtm_result' in r.body, 'no dtm_result');
  t.equal((await dtm.query(gid)).transaction.status, 'submitted', 'still submitted');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'completes after the backoff');
});

t.test('msg: wait_result with an action answering 409 → 500 (a msg FAILURE is just an error, §2/§4.7), not 409', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i-wait-failure', 'FAILURE');
  const r = await dtm.post('submit', msgBody(gid, ['i-wait-failure'], { wait_result: true }));
  t.match(r, { status: 500, body: { message: /FAILURE/ } }, "submit → 500 (the message still contains the FAILURE text, as DTM's does)");
  t.notOk('dtm_result' in r.body, 'no dtm_result: this is not a definitive failure');
  t.equal((await dtm.query(gid)).transaction.status, 'submitted', 'the msg stays submitted and will be retried');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'and completes later');
});
