/**
 * SAGA scenarios, named after DTM's tests and the conformance items of dtm-protocol.md §13.
 * Time moves with the fake clock and the cron runs with poller.tick(); no sleeps stand in for time.
 */
import t from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, startTestApp, type TestApp } from '../fixtures/app.js';

let dtm: TestApp;
let busi: Busi;

t.before(async () => {
  dtm = await startTestApp();
  busi = await startBusi();
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
});
t.beforeEach(() => busi.reset());

const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);

t.test('5/6. saga: normal — actions POSTed in order with the payload, DTM query params, then succeed', async (t) => {
  const gid = gidOf(t.name);
  const body = sagaBody(gid, busi.url, [
    ['TransOut', 'TransOutRevert'],
    ['TransIn', 'TransInRevert'],
  ]);
  const res = await dtm.post('submit', body);
  t.strictSame(res, { status: 200, body: { dtm_result: 'SUCCESS' } }, 'submit answers 200 SUCCESS at once');
  const q = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    busi.calls.map((c) => [c.method, c.path, c.query]),
    [
      ['POST', 'TransOut', { branch_id: '01', gid, op: 'action', trans_type: 'saga' }],
      ['POST', 'TransIn', { branch_id: '02', gid, op: 'action', trans_type: 'saga' }],
    ],
    'action 1 then action 2, POST, with gid/trans_type/branch_id/op and no dtm param',
  );
  t.equal(busi.calls[0]!.body, (body['payloads'] as string[])[0], 'the body is exactly the payload');
  t.match(busi.calls[0]!.headers['content-type'], /application\/json/, 'Content-Type is application/json');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'branch statuses in list order');
  t.strictSame(
    q.branches.map((b: { branch_id: string; op: string }) => [b.branch_id, b.op]),
    [
      ['01', 'compensate'],
      ['01', 'action'],
      ['02', 'compensate'],
      ['02', 'action'],
    ],
    'branch list order is (compensate, action) per step',
  );
  t.equal(q.branches[1].bin_data, Buffer.from((body['payloads'] as string[])[0]!).toString('base64'), 'bin_data is base64 of the payload');
  t.ok(q.transaction.finish_time, 'finish_time is set');
});
