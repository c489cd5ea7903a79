/**
 * SAGA scenarios, named after DTM's tests and the conformance items of dtm-protocol.md §13.
 * Time moves with the fake clock and the cron runs with poller.tick(); no sleeps stand in for time.
 */
import t from 'tap';
import { gidOf, sagaBody, waitFor } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);

const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);

t.test('5/6. saga: normal — actions POSTed in order with the payload, DTM query params, then succeed', async (t) => {
  const gid = gidOf(t.name);
  const body = sagaBody(gid, s.busi.url, [
    ['TransOut', 'TransOutRevert'],
    ['TransIn', 'TransInRevert'],
  ]);
  const res = await s.dtm.post('submit', body);
  t.strictSame(res, { status: 200, body: { dtm_result: 'SUCCESS' } }, 'submit answers 200 SUCCESS at once');
  const q = await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query]),
    [
      ['POST', 'TransOut', { branch_id: '01', gid, op: 'action', trans_type: 'saga' }],
      ['POST', 'TransIn', { branch_id: '02', gid, op: 'action', trans_type: 'saga' }],
    ],
    'action 1 then action 2, POST, with gid/trans_type/branch_id/op and no dtm param',
  );
  t.equal(s.busi.calls[0]!.body, (body['payloads'] as string[])[0], 'the body is exactly the payload');
  t.match(s.busi.calls[0]!.headers['content-type'], /application\/json/, 'Content-Type is application/json');
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

t.test('7. saga: sequential — action 2 is not requested until action 1 has answered 200', async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('TransOut', 300);
  await s.dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['TransOut', 'TransOutRevert'],
      ['TransIn', 'TransInRevert'],
    ]),
  );
  await s.dtm.waitStatus(gid, 'succeed');
  const [out, inn] = [s.busi.callsTo('TransOut')[0]!, s.busi.callsTo('TransIn')[0]!];
  t.ok(inn.at >= out.doneAt, `TransIn starts (${inn.at} ms) after TransOut answered (${out.doneAt} ms)`);
});

t.test('8. saga: empty action URL is not called and succeeds; an empty payload is sent with GET', async (t) => {
  const gid = gidOf(t.name);
  const body = sagaBody(gid, s.busi.url, [
    ['', 'TransOutRevert'],
    ['TransIn', 'TransInRevert'],
  ]);
  (body['payloads'] as string[])[1] = '';
  await s.dtm.post('submit', body);
  const q = await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.body]),
    [['GET', 'TransIn', '']],
    'only TransIn was called, with GET and no body',
  );
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'the empty action counts as succeed');
});

t.test('9. saga: a URL with a query string keeps it and gets DTM params appended', async (t) => {
  const gid = gidOf(t.name);
  const body = sagaBody(gid, s.busi.url, [['TransOut?x=1', '']]);
  await s.dtm.post('submit', body);
  await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(s.busi.calls[0]!.query, { x: '1', branch_id: '01', gid, op: 'action', trans_type: 'saga' }, 'original and DTM params');
});

t.test('10. saga: rollback — action 2 FAILURE compensates 2 then 1, failed, reason names the URL and body', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE');
  await s.dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['TransOut', 'TransOutRevert'],
      ['TransIn', 'TransInRevert'],
    ]),
  );
  const q = await s.dtm.waitStatus(gid, 'failed');
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query['op']]),
    [
      ['POST', 'TransOut', 'action'],
      ['POST', 'TransIn', 'action'],
      ['POST', 'TransInRevert', 'compensate'],
      ['POST', 'TransOutRevert', 'compensate'],
    ],
    "compensations run in reverse order, including the failed action's",
  );
  t.strictSame(statuses(q), ['succeed', 'succeed', 'succeed', 'failed'], 'branch statuses');
  t.ok(q.transaction.rollback_time, 'rollback_time is set');
  t.match(q.transaction.rollback_reason, `url:${s.busi.url}/TransIn return failed: {"error":"busi says no"}`, 'rollback_reason has the URL and body');
});

t.test('11. saga: 200 with a body containing FAILURE is a failure', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE_BODY');
  await s.dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['TransOut', 'TransOutRevert'],
      ['TransIn', 'TransInRevert'],
    ]),
  );
  const q = await s.dtm.waitStatus(gid, 'failed');
  t.strictSame(statuses(q), ['succeed', 'succeed', 'succeed', 'failed'], 'treated exactly like 409');
});

t.test('12. saga: ONGOING (425 or body) keeps the branch prepared and the interval, next ≈ now + 10 s', async (t) => {
  for (const outcome of ['ONGOING', 'ONGOING_BODY'] as const) {
    const gid = gidOf(`${t.name}-${outcome}`);
    s.busi.next('TransOut', outcome);
    await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']], { wait_result: true }));
    const q = await s.dtm.query(gid);
    t.equal(q.transaction.status, 'submitted', `${outcome}: global stays submitted`);
    t.strictSame(statuses(q), ['prepared', 'prepared'], `${outcome}: branch stays prepared`);
    t.equal(q.transaction.next_cron_interval, 10, `${outcome}: interval unchanged`);
    const next = Date.parse(q.transaction.next_cron_time);
    t.ok(Math.abs(next - (s.dtm.clock.now() + 10_000)) < 50, `${outcome}: next_cron_time ≈ now + 10 s`);
  }
});

t.test('13. saga: a transient error (500, 201, garbage, refused) backs off 10 → 20, then the cron finishes it and resets', async (t) => {
  for (const outcome of ['ERROR', 'STATUS_201', 'GARBAGE'] as const) {
    const gid = gidOf(`${t.name}-${outcome}`);
    s.busi.next('TransOut', outcome);
    await s.dtm.post(
      'submit',
      sagaBody(
        gid,
        s.busi.url,
        [
          ['TransOut', 'TransOutRevert'],
          ['TransIn', ''],
        ],
        { wait_result: true },
      ),
    );
    let q = await s.dtm.query(gid);
    t.equal(q.transaction.next_cron_interval, 20, `${outcome}: interval doubled`);
    t.ok(Math.abs(Date.parse(q.transaction.next_cron_time) - (s.dtm.clock.now() + 20_000)) < 50, `${outcome}: next ≈ now + 20 s`);
    s.dtm.clock.advance(20_001);
    await s.dtm.app.poller.tick();
    q = await s.dtm.query(gid);
    t.equal(q.transaction.status, 'succeed', `${outcome}: the cron retried and finished it`);
  }
  const gid = gidOf(`${t.name}-refused`);
  await s.dtm.post('submit', sagaBody(gid, 'http://127.0.0.1:1/api/busi', [['TransOut', '']], { wait_result: true }));
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'connection refused is a transient error');
  await s.dtm.post('forceStop', { gid });
});

t.test('13b. saga: the interval keeps doubling while errors continue, and resets after success', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ERROR', 'ERROR', 'ERROR');
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', ''],
        ['TransIn', ''],
      ],
      { wait_result: true },
    ),
  );
  const intervals: number[] = [(await s.dtm.query(gid)).transaction.next_cron_interval];
  for (let i = 0; i < 2; i++) {
    s.dtm.clock.advance(intervals.at(-1)! * 1000 + 1);
    await s.dtm.app.poller.tick();
    intervals.push((await s.dtm.query(gid)).transaction.next_cron_interval);
  }
  t.strictSame(intervals, [20, 40, 80], 'exponential backoff');
  s.dtm.clock.advance(80_001);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'finished after the business recovered');
});

t.test('14. saga: a compensation answering 409 is retried with backoff until 200, then failed', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE');
  s.busi.next('TransOutRevert', 'FAILURE');
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ],
      { wait_result: true },
    ),
  );
  let q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'aborting', 'still aborting after the compensation said FAILURE');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'succeed', 'failed'], 'the refused compensation stays prepared');
  t.equal(q.transaction.next_cron_interval, 20, 'backed off');
  s.dtm.clock.advance(20_001);
  await s.dtm.app.poller.tick();
  q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'failed', 'failed once the compensation succeeded');
  t.equal(s.busi.callsTo('TransOutRevert').length, 2, 'the compensation was called twice');
});

t.test('15. saga: retry_interval 60 — a transient error sets 120, an ONGOING keeps 60', async (t) => {
  const a = gidOf(`${t.name}-error`);
  s.busi.next('TransOut', 'ERROR');
  await s.dtm.post('submit', sagaBody(a, s.busi.url, [['TransOut', '']], { wait_result: true, retry_interval: 60 }));
  t.equal((await s.dtm.query(a)).transaction.next_cron_interval, 120, 'error doubles the base of 60');
  const b = gidOf(`${t.name}-ongoing`);
  s.busi.next('TransOut', 'ONGOING');
  await s.dtm.post('submit', sagaBody(b, s.busi.url, [['TransOut', '']], { wait_result: true, retry_interval: 60 }));
  t.equal((await s.dtm.query(b)).transaction.next_cron_interval, 60, 'ongoing keeps 60');
  await s.dtm.post('forceStop', { gid: a });
  await s.dtm.post('forceStop', { gid: b });
});

t.test('16. saga: branch_headers go on every branch request, actions and compensations', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE');
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ],
      { branch_headers: { 'x-token': 't' }, wait_result: true },
    ),
  );
  t.equal(s.busi.calls.length, 4, 'four calls');
  t.ok(
    s.busi.calls.every((c) => c.headers['x-token'] === 't'),
    'each carries x-token: t',
  );
});

t.test('17. saga: request_timeout 1 with a 2 s branch is a transient error, retried later', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', { status: 200, body: '{}', delayMs: 2000 });
  await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', '']], { wait_result: true, request_timeout: 1 }));
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'timed out call → backoff');
  s.dtm.clock.advance(20_001);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'the retry succeeded');
});

t.test('18. saga: wait_result answers only after both actions, with the status already succeed', async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('TransIn', 100);
  const res = await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', ''],
        ['TransIn', ''],
      ],
      { wait_result: true },
    ),
  );
  t.strictSame(res, { status: 200, body: { dtm_result: 'SUCCESS' } }, '200 SUCCESS');
  t.equal(s.busi.calls.length, 2, 'both actions were called before the answer');
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'already succeed');
});

t.test('19. saga: wait_result with an action FAILURE → 409 FAILURE naming the body, compensations done', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransIn', 'FAILURE');
  const res = await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ],
      { wait_result: true },
    ),
  );
  t.equal(res.status, 409, '409');
  t.match(res.body, { dtm_result: 'FAILURE', message: /busi says no/ }, 'message contains the failure body');
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'failed before the answer');
});

t.test('20. saga: wait_result with an action ONGOING → 409 "wait result not return success", still submitted', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ONGOING');
  const res = await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', '']], { wait_result: true }));
  t.strictSame(res, { status: 409, body: { dtm_result: 'FAILURE', message: 'wait result not return success: FAILURE' } }, "DTM's answer");
  t.equal((await s.dtm.query(gid)).transaction.status, 'submitted', 'still submitted');
  await s.dtm.post('forceStop', { gid });
});

t.test('21. saga: concurrent — three slow actions overlap in time', async (t) => {
  const gid = gidOf(t.name);
  for (const p of ['A0', 'A1', 'A2']) s.busi.delay(p, 300);
  const res = await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['A0', ''],
        ['A1', ''],
        ['A2', ''],
      ],
      { custom_data: JSON.stringify({ concurrent: true, orders: {} }), wait_result: true },
    ),
  );
  t.equal(res.status, 200, 'succeeded');
  const calls = ['A0', 'A1', 'A2'].map((p) => s.busi.callsTo(p)[0]!);
  t.ok(Math.max(...calls.map((c) => c.at)) < Math.min(...calls.map((c) => c.doneAt)), 'all three were in flight at once');
});

t.test('22. saga: concurrent with orders {"2":[0,1]} — step 2 waits for 0 and 1; its compensation comes first', async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('A0', 100);
  s.busi.delay('A1', 150);
  s.busi.next('A2', 'FAILURE');
  s.busi.delay('C2', 100);
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['A0', 'C0'],
        ['A1', 'C1'],
        ['A2', 'C2'],
      ],
      { custom_data: JSON.stringify({ concurrent: true, orders: { '2': [0, 1] } }), wait_result: true },
    ),
  );
  const a2 = s.busi.callsTo('A2')[0]!;
  t.ok(a2.at >= s.busi.callsTo('A0')[0]!.doneAt && a2.at >= s.busi.callsTo('A1')[0]!.doneAt, 'A2 starts after A0 and A1 answered');
  const c2 = s.busi.callsTo('C2')[0]!;
  t.ok(s.busi.callsTo('C0')[0]!.at >= c2.doneAt && s.busi.callsTo('C1')[0]!.at >= c2.doneAt, 'C0 and C1 start after C2 completed');
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'failed');
});

t.test('23. saga: concurrent, order 1←0, action 0 fails → action 1 never called', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('A0', 'FAILURE');
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['A0', 'C0'],
        ['A1', 'C1'],
      ],
      { custom_data: JSON.stringify({ concurrent: true, orders: { '1': [0] } }), wait_result: true },
    ),
  );
  const q = await s.dtm.query(gid);
  t.equal(s.busi.callsTo('A1').length, 0, 'A1 never called');
  t.strictSame(statuses(q), ['succeed', 'failed', 'prepared', 'prepared'], "DTM's statuses");
  t.equal(q.transaction.status, 'failed', 'failed');
});

t.test('24. saga: timeout_to_fail while action 1 is ONGOING compensates 1 only, reason "Timeout after N seconds"', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ONGOING', 'ONGOING');
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ],
      { timeout_to_fail: 30 },
    ),
  );
  await waitFor(() => s.busi.callsTo('TransOut').length === 1);
  s.dtm.clock.advance(31_000);
  await s.dtm.app.poller.tick();
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: /^Timeout after \d+ seconds$/ }, 'failed by timeout');
  t.strictSame(statuses(q), ['succeed', 'prepared', 'prepared', 'prepared'], 'comp 1 ran, step 2 untouched');
  t.equal(s.busi.callsTo('TransIn').length + s.busi.callsTo('TransInRevert').length, 0, 'step 2 never called');
});

t.test('25. saga: without timeout_to_fail it never times out; ONGOING past 35 s still ends succeed', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ONGOING', 'ONGOING', 'ONGOING', 'ONGOING');
  await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']], { wait_result: true }));
  for (let i = 0; i < 5; i++) {
    s.dtm.clock.advance(10_001);
    await s.dtm.app.poller.tick();
  }
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed after 50 s of ONGOING');
  t.equal(s.busi.callsTo('TransOutRevert').length, 0, 'never compensated');
});

t.test('26. saga: retry_limit 3 — three failures then success, four immediate calls, 200', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ERROR', 'ERROR', 'ERROR');
  const res = await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']], { wait_result: true, retry_limit: 3 }));
  t.equal(res.status, 200, '200');
  t.equal(s.busi.callsTo('TransOut').length, 4, 'four back-to-back calls');
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed');
});

t.test("27. saga: retry_limit 1 with the same action → failed with DTM's reason, compensation called", async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ERROR', 'ERROR', 'ERROR');
  await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']], { wait_result: true, retry_limit: 1 }));
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'RetryCount is greater than RetryLimit, RetryLimit: 1' }, 'failed with the reason');
  t.equal(s.busi.callsTo('TransOutRevert').length, 1, 'compensation of the retried step was called');
});

t.test('28. saga: submitted twice while step 1 is ONGOING — both 200, the second re-invokes action 1', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ONGOING');
  const body = sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']]);
  t.equal((await s.dtm.post('submit', { ...body, wait_result: true })).status, 409, 'first submit (waiting) reports not finished');
  t.equal((await s.dtm.post('submit', body)).status, 200, 'second submit 200');
  await s.dtm.waitStatus(gid, 'succeed');
  t.equal(s.busi.callsTo('TransOut').length, 2, 'action 1 called again');
});
