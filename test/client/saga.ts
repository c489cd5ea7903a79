/** The SDK's Saga builder against our coordinator and the fake business service. */
import t from 'tap';
import { closeDtmHttp, FailureError, genGid, newGid, Saga } from '../../src/client/index.js';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);
t.teardown(closeDtmHttp);

const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);

t.test('saga: success — actions in order with the payload, options on the wire', async (t) => {
  const gid = gidOf(t.name);
  const saga = new Saga(s.dtm.dtm, gid)
    .add(`${s.busi.url}/TransOut`, `${s.busi.url}/TransOutCompensate`, { amount: 30 })
    .add(`${s.busi.url}/TransIn`, `${s.busi.url}/TransInCompensate`, 'raw-text')
    .waitResult()
    .timeoutToFail(60)
    .retryInterval(5)
    .requestTimeout(4)
    .branchHeaders({ 'x-test': 'yes' })
    .retryLimit(3);
  t.strictSame(
    saga.toBody(),
    {
      gid,
      trans_type: 'saga',
      steps: [
        { action: `${s.busi.url}/TransOut`, compensate: `${s.busi.url}/TransOutCompensate` },
        { action: `${s.busi.url}/TransIn`, compensate: `${s.busi.url}/TransInCompensate` },
      ],
      payloads: ['{"amount":30}', 'raw-text'],
      wait_result: true,
      timeout_to_fail: 60,
      retry_interval: 5,
      request_timeout: 4,
      branch_headers: { 'x-test': 'yes' },
      retry_limit: 3,
    },
    'DTM wire body: objects JSON-encoded, strings raw, options snake_case',
  );
  await saga.submit();
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'waitResult: succeed when submit resolves');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'both actions succeeded');
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['op'], c.query['branch_id'], c.body, c.headers['x-test']]),
    [
      ['TransOut', 'action', '01', '{"amount":30}', 'yes'],
      ['TransIn', 'action', '02', 'raw-text', 'yes'],
    ],
    'actions in order, payloads, branch headers',
  );
});

t.test('saga: rollback — action 2 FAILURE compensates 2 then 1; waitResult submit throws FailureError', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE');
  const saga = new Saga(s.dtm.dtm, gid)
    .add(`${s.busi.url}/TransOut`, `${s.busi.url}/TransOutCompensate`, { amount: 30 })
    .add(`${s.busi.url}/TransIn`, `${s.busi.url}/TransInCompensate`, { amount: 30 })
    .waitResult();
  await t.rejects(saga.submit(), { name: 'FailureError', status: 409 }, 'the in-line outcome is a failure');
  await t.rejects(saga.submit(), FailureError, 'a second submit of the failed saga is refused');
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'failed', 'failed');
  t.strictSame(statuses(q), ['succeed', 'succeed', 'succeed', 'failed'], "DTM's statuses for an action-2 failure");
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['op']]),
    [
      ['TransOut', 'action'],
      ['TransIn', 'action'],
      ['TransInCompensate', 'compensate'],
      ['TransOutCompensate', 'compensate'],
    ],
    "compensations in reverse order, the failed action's too",
  );
});

t.test('saga: without waitResult, submit resolves once stored and the saga completes in the background', async (t) => {
  const gid = gidOf(t.name);
  await new Saga(s.dtm.dtm, gid).add(`${s.busi.url}/TransOut`, `${s.busi.url}/TransOutCompensate`, { amount: 1 }).submit();
  await s.dtm.waitStatus(gid, 'succeed');
  t.equal(s.busi.callsTo('TransOut').length, 1, 'the action ran once');
});

t.test('saga: concurrent with branch orders — steps 0 and 1 together, step 2 after both', async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('A', 200);
  s.busi.delay('B', 200);
  const saga = new Saga(s.dtm.dtm, gid)
    .add(`${s.busi.url}/A`, `${s.busi.url}/ACompensate`, { step: 0 })
    .add(`${s.busi.url}/B`, `${s.busi.url}/BCompensate`, { step: 1 })
    .add(`${s.busi.url}/C`, `${s.busi.url}/CCompensate`, { step: 2 })
    .enableConcurrent()
    .addBranchOrder(2, [0, 1])
    .waitResult();
  t.strictSame(JSON.parse(saga.toBody()['custom_data'] as string), { orders: { '2': [0, 1] }, concurrent: true }, 'custom_data carries concurrent and orders');
  await saga.submit();
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed');
  const [a, b, c] = [s.busi.callsTo('A')[0]!, s.busi.callsTo('B')[0]!, s.busi.callsTo('C')[0]!];
  t.ok(b.at < a.doneAt && a.at < b.doneAt, `A and B overlap (A ${a.at}-${a.doneAt} ms, B ${b.at}-${b.doneAt} ms)`);
  t.ok(c.at >= a.doneAt && c.at >= b.doneAt, 'C starts after A and B answered');
});

t.test('saga: concurrent rollback — a failing step compensates only what ran', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('B', 'FAILURE');
  const saga = new Saga(s.dtm.dtm, gid)
    .add(`${s.busi.url}/A`, `${s.busi.url}/ACompensate`, {})
    .add(`${s.busi.url}/B`, `${s.busi.url}/BCompensate`, {})
    .add(`${s.busi.url}/C`, `${s.busi.url}/CCompensate`, {})
    .enableConcurrent()
    .addBranchOrder(2, [1])
    .waitResult();
  await t.rejects(saga.submit(), FailureError, 'submit reports the failure');
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'failed');
  t.equal(s.busi.callsTo('C').length, 0, 'C, which waited for B, never ran');
  t.strictSame(
    s.busi.calls
      .filter((c) => c.query['op'] === 'compensate')
      .map((c) => c.path)
      .sort(),
    ['ACompensate', 'BCompensate'],
    'A and B compensated',
  );
});

t.test('gids: newGid asks the coordinator; genGid makes one locally in the same format', async (t) => {
  const shape = /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{22}$/;
  t.match(await newGid(s.dtm.dtm), shape, 'server gid');
  t.match(genGid(), shape, 'local gid');
});
