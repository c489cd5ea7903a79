/** Workflow scenarios: dtm-protocol.md §13 items 56-58. */
import t from 'tap';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function wfBody(gid: string, name: string, input: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gid,
    trans_type: 'workflow',
    protocol: 'http',
    query_prepared: `${s.busi.url}/WfResume`,
    custom_data: JSON.stringify({ name, data: b64(input) }),
    ...extra,
  };
}

t.test('56. workflow: prepareWorkflow, recorded progress, submit with result', async (t) => {
  const gid = gidOf(t.name);
  const first = await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf56', '{"amount":30}'));
  t.equal(first.status, 200, 'prepareWorkflow 200');
  t.match(first.body, { transaction: { gid, status: 'prepared', trans_type: 'workflow' }, progresses: [] }, 'a new prepared workflow with no progress');
  const reg = await s.dtm.post('registerBranch', { gid, trans_type: 'workflow', branch_id: '01', op: 'action', status: 'succeed', data: 'abc' });
  t.strictSame(reg, { status: 200, body: { dtm_result: 'SUCCESS' } }, 'progress recorded');
  const second = await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf56', '{"amount":30}'));
  t.match(second.body.progresses, [{ branch_id: '01', op: 'action', status: 'succeed', bin_data: b64('abc') }], 'the progress comes back with base64 bin_data');
  t.equal(
    (await s.dtm.post('registerBranch', { gid, trans_type: 'workflow', branch_id: '01', op: 'action', status: 'succeed', data: 'abc' })).status,
    500,
    'duplicate progress is refused',
  );
  const result = b64('{"order":1}');
  t.strictSame(
    await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'succeed', result } }),
    { status: 200, body: { dtm_result: 'SUCCESS' } },
    'submit 200',
  );
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'succeed', result }, 'succeed with the result stored');
  t.equal(s.busi.calls.length, 0, 'the server called nothing');
  t.match(
    await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'failed' } }),
    { status: 500, body: { message: 'storage: NotFound' } },
    "a submit of a finished workflow → DTM's 500",
  );
});

t.test('56b. workflow: a failed submit stores the rollback reason', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf56b', ''));
  await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'failed', rollback_reason: 'no stock' } });
  t.match((await s.dtm.query(gid)).transaction, { status: 'failed', rollback_reason: 'no stock' }, 'failed with the reason');
});

t.test('57. workflow: left prepared, the server calls the resume URL every RetryInterval', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf57', '{"amount":30}'));
  await s.dtm.app.poller.tick();
  t.equal(s.busi.calls.length, 0, 'nothing before the first cron time');
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query, c.body]),
    [['POST', 'WfResume', { branch_id: '00', gid, op: 'wf57', trans_type: 'workflow' }, '{"amount":30}']],
    'POST with the decoded input, op = workflow name, branch_id 00',
  );
  s.busi.next('WfResume', 'ERROR');
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  t.equal(s.busi.calls.length, 3, 'resumed again each 10 s, even after an error (fixed interval)');
  t.equal((await s.dtm.query(gid)).transaction.next_cron_interval, 10, 'no backoff');
  await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'succeed' } });
});

t.test('57b. workflow: with empty input data the resume call is a GET', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf57b', ''));
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.body]),
    [['GET', '']],
    'GET without a body',
  );
  await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'succeed' } });
});

t.test('58. workflow: registerBranch after submit → 409', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepareWorkflow', wfBody(gid, 'wf58', ''));
  await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'succeed' } });
  t.match(
    await s.dtm.post('registerBranch', { gid, trans_type: 'workflow', branch_id: '01', op: 'action', status: 'succeed', data: '' }),
    { status: 409, body: { dtm_result: 'FAILURE', message: `no trans with gid: ${gid} status: prepared found FAILURE` } },
    '409 FAILURE',
  );
});

t.test('workflow: bad custom_data and bad progress are 400s', async (t) => {
  const gid = gidOf(t.name);
  t.match(
    await s.dtm.post('prepareWorkflow', { ...wfBody(gid, 'x', ''), custom_data: 'nope' }),
    { status: 400, body: { message: /DTM_BAD_CUSTOM_DATA/ } },
    'custom_data not JSON',
  );
  t.match(await s.dtm.post('prepareWorkflow', { ...wfBody(gid, 'x', ''), custom_data: '{}' }), { status: 400, body: { message: /name/ } }, 'no name');
  t.equal((await s.dtm.query(gid)).transaction, null, 'nothing stored');
  await s.dtm.post('prepareWorkflow', wfBody(gid, 'wfbad', ''));
  t.match(
    await s.dtm.post('registerBranch', { gid, trans_type: 'workflow', branch_id: '01', op: 'action', status: 'maybe' }),
    { status: 400 },
    'a progress status other than succeed/failed',
  );
  await s.dtm.post('submit', { gid, trans_type: 'workflow', req_extra: { status: 'succeed' } });
});
