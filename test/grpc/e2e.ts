/**
 * DTM's gRPC API end to end (dtm-grpc.md §7): a client speaking `dtmgimp.Dtm` as DTM's Go SDK
 * does, the coordinator, and a gRPC business service; state read over HTTP's `query`, as DTM's
 * acceptance kit does. Named after the spec's conformance scenarios.
 */
import { status } from '@grpc/grpc-js';
import t from 'tap';
import { freePort } from '../../src/store/embedded-redis.js';
import { gidOf, startTestApp, type TestApp } from '../fixtures/app.js';
import { encodeBusiReq, startGrpcBusi, type GrpcBusi } from '../fixtures/grpc-busi.js';
import { dtmGrpcClient, type DtmGrpcClient } from '../fixtures/grpc-dtm-client.js';

let dtm: TestApp;
let busi: GrpcBusi;
let client: DtmGrpcClient;

t.before(async () => {
  busi = await startGrpcBusi();
  dtm = await startTestApp({ env: { GRPC_PORT: String(await freePort()) } });
  client = dtmGrpcClient(`127.0.0.1:${dtm.app.grpcPort()}`);
});
t.teardown(async () => {
  client.close();
  await dtm.stop();
  await busi.close();
});
t.beforeEach(() => busi.reset());

const options = (o: Record<string, unknown> = {}): Record<string, unknown> => ({ WaitResult: false, TimeoutToFail: 0, RetryInterval: 0, ...o });
/** Bytes with a NUL and invalid UTF-8: what proto payloads look like. */
const payload = (n: number): Buffer => Buffer.concat([encodeBusiReq({ Amount: 30 + n }), Buffer.from([0x00, 0xff, 0xfe, n])]);

function saga(gid: string, steps: [string, string][], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Gid: gid,
    TransType: 'saga',
    TransOptions: options(extra['TransOptions'] as Record<string, unknown> | undefined),
    Steps: JSON.stringify(steps.map(([a, c]) => ({ action: a === '' ? '' : busi.url(a), compensate: c === '' ? '' : busi.url(c) }))),
    BinPayloads: steps.map((_, i) => payload(i)),
    ...extra,
  };
}

/** Calls the business service received for `gid`: [method, op, branch id]. */
const callsOf = (gid: string): [string, string, string][] =>
  busi.calls.filter((c) => c.metadata['dtm-gid'] === gid).map((c) => [c.method, String(c.metadata['dtm-op']), String(c.metadata['dtm-branch_id'])]);

/** Waits until no round of `gid` runs in the coordinator. */
async function settle(gid: string): Promise<void> {
  for (const until = Date.now() + 5000; dtm.app.engine.active.has(gid) && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
}

t.test('1. NewGid returns distinct 22-character gids', async (t) => {
  const [a, b] = await Promise.all([client.call('NewGid', {}), client.call('NewGid', {})]);
  t.match(a, { code: status.OK, reply: { Gid: /^[\w]{22}$/ } }, 'a gid');
  t.not(a.reply.Gid, b.reply.Gid, 'distinct');
});

t.test('2. saga of 2 steps over gRPC succeeds: actions in order, metadata, payload bytes exact; query shows protocol grpc', async (t) => {
  const gid = gidOf(t.name);
  t.match(
    await client.call(
      'Submit',
      saga(gid, [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ]),
    ),
    { code: status.OK },
    'Submit → OK',
  );
  const q = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    callsOf(gid),
    [
      ['TransOut', 'action', '01'],
      ['TransIn', 'action', '02'],
    ],
    'the two actions, in order, with op and branch id',
  );
  const first = busi.calls.find((c) => c.metadata['dtm-gid'] === gid)!;
  t.match(first.metadata, { 'dtm-trans_type': 'saga', 'dtm-dtm': '' }, 'dtm-trans_type saga, dtm-dtm empty');
  t.ok(first.body.equals(payload(0)), 'the request is the stored payload, byte for byte');
  t.equal(q.transaction.protocol, 'grpc', 'protocol grpc');
  t.equal(q.branches.length, 4, 'four branches');
  t.equal(Buffer.from(q.branches[1].bin_data, 'base64').toString('hex'), payload(0).toString('hex'), 'bin_data is base64 of the exact bytes');
});

t.test('3/4. saga whose 2nd action answers Aborted: compensations in reverse, failed; with WaitResult the client gets Aborted', async (t) => {
  const gid = gidOf(t.name);
  busi.next('TransIn', 'FAILURE');
  const r = await client.call(
    'Submit',
    saga(
      gid,
      [
        ['TransOut', 'TransOutRevert'],
        ['TransIn', 'TransInRevert'],
      ],
      { TransOptions: options({ WaitResult: true }) },
    ),
  );
  t.equal(r.code, status.ABORTED, 'Submit with WaitResult → Aborted');
  t.match(r.details, /FAILURE$/, 'its message ends in FAILURE, which the SDK strips');
  const q = await dtm.waitStatus(gid, 'failed');
  t.strictSame(
    callsOf(gid),
    [
      ['TransOut', 'action', '01'],
      ['TransIn', 'action', '02'],
      ['TransInRevert', 'compensate', '02'],
      ['TransOutRevert', 'compensate', '01'],
    ],
    'action1, action2, compensate2, compensate1',
  );
  t.match(q.transaction.rollback_reason, /TransIn/, 'rollback_reason names the branch');
});

t.test('4. saga with WaitResult that succeeds answers OK, already succeed', async (t) => {
  const gid = gidOf(t.name);
  t.match(await client.call('Submit', saga(gid, [['TransOut', '']], { TransOptions: options({ WaitResult: true }) })), { code: status.OK }, 'OK');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'succeed at once');
});

t.test('5. a branch answering Unavailable is retried with backoff; FailedPrecondition keeps the interval', async (t) => {
  const gid = gidOf(t.name);
  busi.next('TransOut', 'UNAVAILABLE');
  t.match(await client.call('Submit', saga(gid, [['TransOut', 'TransOutRevert']])), { code: status.OK }, 'submitted');
  await settle(gid);
  let q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'still submitted, backed off 10 → 20');
  t.match(q.branches[1], { attempts: 1, last_error: /^ERROR \(HTTP 14\)/ }, 'the error is visible, with the gRPC code');
  busi.next('TransOut', 'FAILED_PRECONDITION');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'FailedPrecondition: the interval is kept');
  dtm.clock.advance(20_000);
  await dtm.app.poller.tick();
  await dtm.waitStatus(gid, 'succeed');
  t.pass('then OK: succeed');
});

t.test('7/10. msg: Prepare then Submit delivers the actions; Abort of a prepared msg fails it', async (t) => {
  const gid = gidOf(t.name);
  const msg = {
    Gid: gid,
    TransType: 'msg',
    TransOptions: options(),
    Steps: JSON.stringify([{ action: busi.url('TransIn') }]),
    BinPayloads: [payload(7)],
    QueryPrepared: busi.url('QueryPrepared'),
  };
  t.match(await client.call('Prepare', msg), { code: status.OK }, 'Prepare');
  t.equal((await dtm.query(gid)).transaction.status, 'prepared', 'prepared');
  t.match(await client.call('Submit', msg), { code: status.OK }, 'Submit');
  await dtm.waitStatus(gid, 'succeed');
  t.strictSame(callsOf(gid), [['TransIn', 'action', '01']], 'the action was delivered');
  const aborted = gidOf(`${t.name} abort`);
  t.match(await client.call('Prepare', { ...msg, Gid: aborted }), { code: status.OK }, 'another prepared');
  t.match(await client.call('Abort', { ...msg, Gid: aborted }), { code: status.OK }, 'Abort');
  t.equal((await dtm.query(aborted)).transaction.status, 'failed', 'failed, nothing delivered');
});

t.test('8. msg past its timeout is checked back over gRPC: OK delivers, Aborted fails, FailedPrecondition waits', async (t) => {
  const mk = (gid: string): Record<string, unknown> => ({
    Gid: gid,
    TransType: 'msg',
    TransOptions: options({ TimeoutToFail: 5 }),
    Steps: JSON.stringify([{ action: busi.url('TransIn') }]),
    BinPayloads: [payload(8)],
    QueryPrepared: busi.url('QueryPrepared'),
  });
  const [yes, no, later] = ['yes', 'no', 'later'].map((w) => gidOf(`${t.name} ${w}`)) as [string, string, string];
  for (const gid of [yes, no, later]) t.match(await client.call('Prepare', mk(gid)), { code: status.OK }, `${gid} prepared`);
  busi.next('QueryPrepared', 'OK', 'FAILURE', 'FAILED_PRECONDITION');
  dtm.clock.advance(6000);
  await dtm.app.poller.tick();
  const checks = busi.callsTo('QueryPrepared');
  t.equal(checks.length, 3, 'three check-backs');
  t.ok(
    checks.every((c) => c.body.length === 0 && c.metadata['dtm-op'] === 'msg' && c.metadata['dtm-branch_id'] === '00'),
    'each with an empty body, op msg, branch 00',
  );
  const statuses = await Promise.all([yes, no, later].map(async (g) => (await dtm.query(g)).transaction.status));
  const byGid = Object.fromEntries(checks.map((c, i) => [String(c.metadata['dtm-gid']), ['succeed', 'failed', 'prepared'][i]]));
  t.strictSame(
    statuses,
    [yes, no, later].map((g) => byGid[g]),
    'OK → succeed (delivered), Aborted → failed, FailedPrecondition → still prepared',
  );
});

t.test('11. TCC: confirm in reverse registration order with the registered payloads; Abort cancels', async (t) => {
  const gid = gidOf(t.name);
  const tcc = { Gid: gid, TransType: 'tcc', TransOptions: options(), Steps: 'null' };
  t.match(await client.call('Prepare', tcc), { code: status.OK }, 'Prepare');
  for (const id of ['01', '02']) {
    const reg = {
      Gid: gid,
      TransType: 'tcc',
      BranchID: id,
      Op: '',
      Data: { confirm: busi.url('TransInConfirm'), cancel: busi.url('TransInRevert') },
      BusiPayload: payload(Number(id)),
    };
    t.match(await client.call('RegisterBranch', reg), { code: status.OK }, `branch ${id} registered`);
  }
  t.match(await client.call('Submit', tcc), { code: status.OK }, 'Submit');
  await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    callsOf(gid),
    [
      ['TransInConfirm', 'confirm', '02'],
      ['TransInConfirm', 'confirm', '01'],
    ],
    'confirm 02 then 01',
  );
  t.ok(busi.callsTo('TransInConfirm')[0]!.body.equals(payload(2)), 'with the registered payload, byte for byte');

  const cancelled = gidOf(`${t.name} abort`);
  t.match(await client.call('Prepare', { ...tcc, Gid: cancelled }), { code: status.OK }, 'another prepared');
  const reg = {
    Gid: cancelled,
    TransType: 'tcc',
    BranchID: '01',
    Data: { confirm: busi.url('TransInConfirm'), cancel: busi.url('TransInRevert') },
    BusiPayload: payload(1),
  };
  t.match(await client.call('RegisterBranch', reg), { code: status.OK }, 'a branch registered');
  t.match(await client.call('Abort', { ...tcc, Gid: cancelled, RollbackReason: 'try failed' }), { code: status.OK }, 'Abort');
  const q = await dtm.waitStatus(cancelled, 'failed');
  t.strictSame(callsOf(cancelled), [['TransInRevert', 'cancel', '01']], 'the branch was cancelled');
  t.equal(q.transaction.rollback_reason, 'try failed', 'with the reason given');
});

t.test('12/17. state errors map to Aborted with FAILURE; unknown gid on Abort is a non-OK status', async (t) => {
  const r = await client.call('RegisterBranch', {
    Gid: gidOf(t.name),
    TransType: 'tcc',
    BranchID: '01',
    Data: { confirm: busi.url('A'), cancel: busi.url('B') },
  });
  t.equal(r.code, status.ABORTED, 'RegisterBranch on an unknown gid → Aborted');
  t.match(r.details, /FAILURE$/, 'ending in FAILURE');
  const gid = gidOf(`${t.name} done`);
  t.match(await client.call('Submit', saga(gid, [['', '']], { TransOptions: options({ WaitResult: true }) })), { code: status.OK }, 'a saga finished');
  t.equal((await client.call('Prepare', { Gid: gid, TransType: 'msg', TransOptions: options() })).code, status.ABORTED, 'Prepare of a finished gid → Aborted');
  t.not((await client.call('Abort', { Gid: gidOf(`${t.name} unknown`), TransType: 'tcc' })).code, status.OK, 'Abort of an unknown gid fails');
});

t.test('14/15/16. workflow over gRPC: PrepareWorkflow, progress, submit; a prepared one is resumed through workflow.Workflow/Execute', async (t) => {
  const gid = gidOf(t.name);
  const input = Buffer.from([0x0a, 0x02, 0x00, 0xff]);
  const wf = {
    Gid: gid,
    TransType: 'workflow',
    TransOptions: options({ RetryInterval: 1 }),
    Steps: 'null',
    CustomedData: JSON.stringify({ name: 'wf-grpc', data: input.toString('base64') }),
    QueryPrepared: busi.workflowUrl,
  };
  const first = await client.call('PrepareWorkflow', wf);
  t.match(first, { code: status.OK, reply: { Transaction: { Gid: gid, Status: 'prepared' }, Progresses: [] } }, 'a new workflow: prepared, no progress');
  const step = encodeBusiReq({ Amount: 1 });
  const reg = { Gid: gid, TransType: 'workflow', BranchID: '01', Data: { status: 'succeed', op: 'action' }, BusiPayload: step };
  t.match(await client.call('RegisterBranch', reg), { code: status.OK }, 'a step recorded');
  const again = await client.call('PrepareWorkflow', wf);
  t.equal(again.reply.Progresses.length, 1, 'PrepareWorkflow of the existing gid returns its progress');
  t.ok(Buffer.from(again.reply.Progresses[0].BinData).equals(step), 'the recorded bytes, exactly');

  // Left prepared: the coordinator resumes it by calling the client's Execute.
  dtm.clock.advance(2000);
  await dtm.app.poller.tick();
  const resume = busi.callsTo('Execute');
  t.equal(resume.length, 1, 'one resume call');
  t.match(resume[0]!.metadata, { 'dtm-op': 'wf-grpc', 'dtm-branch_id': '00', 'dtm-gid': gid }, 'op = the workflow name, branch 00');
  t.strictSame(resume[0]!.body, Buffer.concat([Buffer.from([0x0a, input.length]), input]), 'the body is WorkflowData{Data: input}');

  const done = { Gid: gid, TransType: 'workflow', ReqExtra: { status: 'succeed', rollback_reason: '', result: Buffer.from('ok').toString('base64') } };
  t.match(await client.call('Submit', done), { code: status.OK }, 'Submit with ReqExtra records the outcome');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'succeed');
  const finished = await client.call('PrepareWorkflow', wf);
  t.match(finished.reply.Transaction, { Status: 'succeed', Result: Buffer.from('ok').toString('base64') }, 'a finished workflow: its status and result');
});

t.test('topics over gRPC: Subscribe, a msg to topic:// delivered over gRPC, Unsubscribe, DeleteTopic', async (t) => {
  const topic = `g-${Date.now()}`;
  t.match(await client.call('Subscribe', { Topic: topic, URL: busi.url('TransIn'), Remark: 'r' }), { code: status.OK }, 'Subscribe');
  const gid = gidOf(t.name);
  t.match(
    await client.call('Submit', {
      Gid: gid,
      TransType: 'msg',
      TransOptions: options(),
      Steps: JSON.stringify([{ action: `topic://${topic}` }]),
      BinPayloads: [payload(3)],
    }),
    { code: status.OK },
    'a msg to the topic',
  );
  await dtm.waitStatus(gid, 'succeed');
  t.strictSame(callsOf(gid), [['TransIn', 'action', '01']], 'delivered to the subscriber');
  t.equal((await client.call('Unsubscribe', { Topic: topic, URL: busi.url('TransIn') })).code, status.OK, 'Unsubscribe');
  t.equal((await client.call('DeleteTopic', { Topic: topic })).code, status.OK, 'DeleteTopic');
  t.not((await client.call('DeleteTopic', { Topic: topic })).code, status.OK, 'deleting it again fails');
});

t.test('bad input is InvalidArgument with our stable code, and nothing is stored', async (t) => {
  const rows: [string, Record<string, unknown>, RegExp][] = [
    ['a gid with ;', saga('bad;gid', [['TransOut', '']]), /^\[DTM_BAD_GID\]/],
    ['an unknown type', { Gid: gidOf('bad type'), TransType: 'sagax' }, /^\[DTM_BAD_TRANS_TYPE\]/],
    ['a discovery URL', { ...saga(gidOf('bad url'), [['', '']]), Steps: JSON.stringify([{ action: 'etcd://svc/x', compensate: '' }]) }, /^\[DTM_BAD_URL\]/],
    [
      'a port out of range',
      { ...saga(gidOf('bad port'), [['', '']]), Steps: JSON.stringify([{ action: '127.0.0.1:99999/busi.Busi/TransOut', compensate: '' }]) },
      /^\[DTM_BAD_URL\]/,
    ],
    ['steps and payloads of different lengths', { ...saga(gidOf('bad payloads'), [['TransOut', '']]), BinPayloads: [] }, /^\[DTM_BAD_PAYLOADS\]/],
    [
      'a metadata-denied target',
      { ...saga(gidOf('fenced'), [['', '']]), Steps: JSON.stringify([{ action: '169.254.169.254:80/x.Y/Z', compensate: '' }]) },
      /^\[DTM_URL_DENIED\]/,
    ],
  ];
  for (const [name, req, message] of rows) {
    const r = await client.call('Submit', req);
    t.equal(r.code, status.INVALID_ARGUMENT, `${name}: InvalidArgument`);
    t.match(r.details, message, `${name}: ${message}`);
    if (typeof req['Gid'] === 'string' && !req['Gid'].includes(';')) t.equal((await dtm.query(req['Gid'])).transaction, null, `${name}: nothing stored`);
  }
});

t.test('19. the gRPC calls are counted in DTM\'s server metrics with type="grpc"', async (t) => {
  await client.call('NewGid', {});
  await client.call('Submit', { Gid: gidOf(t.name), TransType: 'sagax' });
  const text = (await dtm.get('../metrics')).body as string;
  t.match(text, /dtm_server_process_total\{type="grpc",api="newgid",status="ok"\} [1-9]/, 'newgid ok');
  t.match(text, /dtm_server_process_total\{type="grpc",api="submit",status="fail"\} [1-9]/, 'a failed submit');
  t.match(text, /dtm_server_response_duration_count\{type="grpc",api="newgid"\} [1-9]/, 'and their latency');
  t.match(text, /dtm_server_info\{gin_version="none",grpc_version="\d+\.\d+\.\d+"\} 1/, 'dtm_server_info names the gRPC library version');
});

t.test('a second coordinator on a busy gRPC port refuses to start, saying so', async (t) => {
  await t.rejects(
    startTestApp({ env: { GRPC_PORT: String(dtm.app.grpcPort()) } }),
    { message: /^\[DTM_PORT_IN_USE\] cannot listen for gRPC/ },
    '[DTM_PORT_IN_USE]',
  );
  t.match(await client.call('NewGid', {}), { code: status.OK }, 'the first one still serves');
});

t.test('with API_TOKEN and ADMIN_TOKEN set, gRPC calls need the bearer token of their level', async (t) => {
  const secured = await startTestApp({
    env: { GRPC_PORT: String(await freePort()), API_TOKEN: 'api-token-0123456789', ADMIN_TOKEN: 'admin-token-0123456789' },
  });
  t.teardown(() => secured.stop());
  const c = dtmGrpcClient(`127.0.0.1:${secured.app.grpcPort()}`);
  t.teardown(() => c.close());
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  t.equal((await c.call('NewGid', {})).code, status.UNAUTHENTICATED, 'NewGid without a token: Unauthenticated');
  t.equal((await c.call('NewGid', {}, 5000, bearer('wrong'))).code, status.UNAUTHENTICATED, 'with a wrong token: Unauthenticated');
  t.equal((await c.call('NewGid', {}, 5000, bearer('api-token-0123456789'))).code, status.OK, 'with API_TOKEN: OK');
  const sub = { Topic: `sec-${Date.now()}`, URL: busi.url('TransIn') };
  t.equal(
    (await c.call('Subscribe', sub, 5000, bearer('api-token-0123456789'))).code,
    status.UNAUTHENTICATED,
    'a topic change with API_TOKEN: Unauthenticated',
  );
  t.equal((await c.call('Subscribe', sub, 5000, bearer('admin-token-0123456789'))).code, status.OK, 'with ADMIN_TOKEN: OK');
});
