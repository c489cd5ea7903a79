/**
 * gRPC branch calls against the fake business service: DTM's status classification, the request
 * (metadata, bytes verbatim), deadlines, transport errors, one channel per host:port, and a
 * restarted service reached again at once (dtm-grpc.md §4, §6 pitfalls 8-10).
 */
import { status } from '@grpc/grpc-js';
import { loadSync, type MessageTypeDefinition } from '@grpc/proto-loader';
import t from 'tap';
import { protoDir } from '../../src/grpc/protos.js';
import {
  assertGrpcBranchUrl,
  classifyGrpc,
  createGrpcBranchCaller,
  encodeWorkflowData,
  parseGrpcUrl,
  type GrpcBranchCaller,
  type GrpcBranchRequest,
} from '../../src/trans/grpc-branch-call.js';
import { encodeBusiReq, startGrpcBusi, type GrpcBusi } from '../fixtures/grpc-busi.js';

let busi: GrpcBusi;
let caller: GrpcBranchCaller;

t.before(async () => {
  busi = await startGrpcBusi();
  caller = createGrpcBranchCaller();
});
t.teardown(async () => {
  caller.close();
  await busi.close();
});
t.beforeEach(() => busi.reset());

/** Bytes that are not UTF-8: NUL, a lone continuation byte, a truncated sequence, 0xff. */
const BINARY = Buffer.from([0x00, 0x80, 0xc3, 0x28, 0xff, 0x00, 0x0a]);

function req(url: string, over: Partial<GrpcBranchRequest> = {}): GrpcBranchRequest {
  return {
    url,
    body: encodeBusiReq({ Amount: 30 }),
    query: { gid: 'g-1', trans_type: 'saga', branch_id: '01', op: 'action' },
    headers: {},
    timeoutMs: 3000,
    ...over,
  };
}

t.test('OK is SUCCESS; the request carries DTM metadata and the stored bytes verbatim', async (t) => {
  const o = await caller.call(req(busi.url('TransIn'), { body: BINARY, headers: { 'X-Tenant': 'acme', authorization: 'Bearer t' } }));
  t.same(o, { result: 'SUCCESS', status: status.OK, detail: '' });
  const c = busi.callsTo('TransIn')[0]!;
  t.equal(c.path, '/busi.Busi/TransIn');
  t.equal(c.body.toString('hex'), BINARY.toString('hex'), 'NUL and invalid UTF-8 arrive byte-exact');
  t.match(c.metadata, {
    'dtm-gid': 'g-1',
    'dtm-trans_type': 'saga',
    'dtm-branch_id': '01',
    'dtm-op': 'action',
    'dtm-dtm': '',
    'x-tenant': 'acme',
    authorization: 'Bearer t',
  });
});

t.test('an empty body is a 0-byte message; a string body goes as its UTF-8 bytes', async (t) => {
  await caller.call(req(busi.url('QueryPrepared'), { body: Buffer.alloc(0), query: { gid: 'g', trans_type: 'msg', branch_id: '00', op: 'msg' } }));
  await caller.call(req(busi.url('TransOut'), { body: 'é\u0000x' }));
  const [q, s] = [busi.callsTo('QueryPrepared', 'msg')[0]!, busi.callsTo('TransOut')[0]!];
  t.equal(q.body.length, 0);
  t.same([q.metadata['dtm-branch_id'], q.metadata['dtm-trans_type']], ['00', 'msg']);
  t.equal(s.body.toString('hex'), Buffer.from('é\u0000x').toString('hex'));
});

t.test('a -bin branch header is sent as bytes', async (t) => {
  await caller.call(req(busi.url('TransIn'), { headers: { 'Trace-Bin': 'raw' } }));
  const v = busi.callsTo('TransIn')[0]!.metadata['trace-bin'];
  t.ok(Buffer.isBuffer(v) && v.toString() === 'raw');
});

t.test('statuses classify as DTM reads them', async (t) => {
  const cases: [Parameters<GrpcBusi['next']>[1], string, status, string][] = [
    ['FAILURE', 'FAILURE', status.ABORTED, 'FAILURE'],
    [{ code: status.ABORTED, details: 'insufficient balance' }, 'FAILURE', status.ABORTED, 'insufficient balance'],
    ['ONGOING', 'ONGOING', status.ABORTED, 'ONGOING'],
    [{ code: status.ABORTED, details: 'ONGOING ' }, 'FAILURE', status.ABORTED, 'ONGOING '],
    ['FAILED_PRECONDITION', 'ONGOING', status.FAILED_PRECONDITION, 'ONGOING'],
    ['UNAVAILABLE', 'ERROR', status.UNAVAILABLE, 'busi is down'],
    ['INTERNAL', 'ERROR', status.INTERNAL, 'boom'],
    [{ code: status.UNKNOWN, details: 'panic' }, 'ERROR', status.UNKNOWN, 'panic'],
    [{ code: status.NOT_FOUND, details: 'FAILURE' }, 'ERROR', status.NOT_FOUND, 'FAILURE'],
  ];
  for (const [outcome, result, code, detail] of cases) {
    busi.next('TransOut', outcome);
    t.same(await caller.call(req(busi.url('TransOut'))), { result, status: code, detail }, JSON.stringify(outcome));
  }
  const unknown = await caller.call(req(`${busi.address}/busi.Busi/NoSuchMethod`));
  t.same([unknown.result, unknown.status], ['ERROR', status.UNIMPLEMENTED]);
});

t.test('classifyGrpc on its own', async (t) => {
  t.equal(classifyGrpc(status.OK, ''), 'SUCCESS');
  t.equal(classifyGrpc(status.ABORTED, 'ONGOING'), 'ONGOING');
  t.equal(classifyGrpc(status.ABORTED, 'x FAILURE'), 'FAILURE');
  t.equal(classifyGrpc(status.FAILED_PRECONDITION, ''), 'ONGOING');
  t.equal(classifyGrpc(status.DEADLINE_EXCEEDED, ''), 'ERROR');
  t.equal(classifyGrpc(status.CANCELLED, ''), 'ERROR');
});

t.test('a branch slower than the deadline is an ERROR (DeadlineExceeded), not a hang', async (t) => {
  busi.delay('TransIn', 1000);
  const started = Date.now();
  const o = await caller.call(req(busi.url('TransIn'), { timeoutMs: 150 }));
  const took = Date.now() - started;
  t.same([o.result, o.status], ['ERROR', status.DEADLINE_EXCEEDED]);
  t.ok(took >= 140 && took < 900, `ended at the deadline (${took} ms)`);
});

t.test('nothing listening: ERROR, waiting for a connection within the deadline by default', async (t) => {
  const gone = await startGrpcBusi();
  const url = gone.url('TransIn');
  await gone.close();
  const o = await caller.call(req(url, { timeoutMs: 300 }));
  t.same([o.result, o.status], ['ERROR', status.DEADLINE_EXCEEDED]);
  t.match(o.detail, /no connection to 127\.0\.0\.1:\d+: (TRANSIENT_FAILURE|CONNECTING|IDLE)/);

  const failFast = createGrpcBranchCaller({ waitForReady: false });
  t.teardown(() => failFast.close());
  const started = Date.now();
  const refused = await failFast.call(req(url, { timeoutMs: 3000 }));
  t.same([refused.result, refused.status], ['ERROR', status.UNAVAILABLE]);
  t.match(refused.detail, /ECONNREFUSED/);
  t.ok(Date.now() - started < 1000, 'without waitForReady a refused connection fails at once');
});

t.test('one channel per host:port, reused across calls (one connection)', async (t) => {
  const own = createGrpcBranchCaller();
  t.teardown(() => own.close());
  for (const m of ['TransIn', 'TransOut', 'TransIn', 'TransInRevert']) t.equal((await own.call(req(busi.url(m)))).result, 'SUCCESS');
  await Promise.all([1, 2, 3].map(() => own.call(req(busi.url('TransOut')))));
  t.equal(own.channels(), 1);
  t.equal(new Set(busi.calls.map((c) => c.peer)).size, 1, 'every call came over the same connection');

  const other = await startGrpcBusi();
  t.teardown(() => other.close());
  await own.call(req(other.url('TransIn')));
  t.equal(own.channels(), 2, 'a second service gets its own channel');
});

t.test('beyond maxChannels the oldest channel is closed; its target still works later', async (t) => {
  const other = await startGrpcBusi();
  t.teardown(() => other.close());
  const small = createGrpcBranchCaller({ maxChannels: 1 });
  t.teardown(() => small.close());
  t.equal((await small.call(req(busi.url('TransIn')))).result, 'SUCCESS');
  t.equal((await small.call(req(other.url('TransIn')))).result, 'SUCCESS');
  t.equal(small.channels(), 1);
  t.equal((await small.call(req(busi.url('TransIn')))).result, 'SUCCESS');
});

t.test('a service restarted on the same port is reached again at once, not after a long back-off', async (t) => {
  let svc = await startGrpcBusi();
  const port = svc.port;
  const own = createGrpcBranchCaller();
  t.teardown(async () => {
    own.close();
    await svc.close();
  });
  t.equal((await own.call(req(svc.url('TransIn')))).result, 'SUCCESS');
  await svc.close();
  // Down for a while: failed attempts that would grow grpc's default back-off to several seconds.
  for (let i = 0; i < 4; i++) t.equal((await own.call(req(svc.url('TransIn'), { timeoutMs: 400 }))).result, 'ERROR');
  svc = await startGrpcBusi(port);
  const started = Date.now();
  const o = await own.call(req(svc.url('TransIn'), { timeoutMs: 3000 }));
  const took = Date.now() - started;
  t.equal(o.result, 'SUCCESS', o.detail);
  t.ok(took < 1600, `reached within the reconnect cap (${took} ms)`);
  t.equal(svc.callsTo('TransIn').length, 1);
});

t.test('bad URLs and bad metadata are ERRORs without a call; the caller never throws', async (t) => {
  const cases: [string, Partial<GrpcBranchRequest>, RegExp][] = [
    ['etcd://busi/busi.Busi/TransIn', {}, /service-discovery driver/],
    ['discovery://busi/busi.Busi/TransIn', {}, /service-discovery driver/],
    ['no-slash-here', {}, /host:port\/package\.Service\/Method/],
    ['/busi.Busi/TransIn', {}, /host:port\/package\.Service\/Method/],
    [busi.url('TransIn'), { headers: { 'x-name': 'Zoë' } }, /illegal characters/i],
    [busi.url('TransIn'), { headers: { 'bad key': 'v' } }, /illegal characters/i],
  ];
  for (const [url, over, detail] of cases) {
    const o = await caller.call(req(url, over));
    t.same([o.result, o.status], ['ERROR', status.UNKNOWN], url);
    t.match(o.detail, detail);
  }
  t.equal(busi.calls.length, 0);
  const closed = createGrpcBranchCaller();
  closed.close();
  t.same(await closed.call(req(busi.url('TransIn'))), { result: 'ERROR', status: status.UNKNOWN, detail: 'the gRPC branch caller is closed' });
});

t.test('parseGrpcUrl splits at the first slash', async (t) => {
  t.same(parseGrpcUrl('127.0.0.1:8080/busi.Busi/TransIn'), { target: '127.0.0.1:8080', path: '/busi.Busi/TransIn' });
  t.same(parseGrpcUrl('[::1]:9/a.b.C/D'), { target: '[::1]:9', path: '/a.b.C/D' });
  t.throws(() => parseGrpcUrl('dns:///h:1/x.Y/Z'), TypeError);
});

t.test('assertGrpcBranchUrl accepts host:port/package.Service/Method only', async (t) => {
  for (const ok of ['', '127.0.0.1:8080/busi.Busi/TransIn', 'busi-svc:1/a.b.C/D', '[::1]:50051/x.Y/Z', 'my_host.local:65535/Greeter/SayHello']) {
    t.doesNotThrow(() => assertGrpcBranchUrl(ok, 'steps[0].action'), ok);
  }
  for (const bad of [
    'localhost/busi.Busi/TransIn',
    'localhost:0/x.Y/Z',
    'localhost:65536/x.Y/Z',
    'localhost:80/x.Y',
    'localhost:80',
    'localhost:80/x.Y/Z/extra',
    'localhost:80/x.Y/Z?q=1',
    'local host:80/x.Y/Z',
    'localhost:80/x..Y/Z',
    'localhost:80/1x.Y/Z',
  ]) {
    t.throws(
      () => assertGrpcBranchUrl(bad, 'steps[0].action'),
      { name: 'BadRequestError', message: /^\[DTM_BAD_URL\] steps\[0\]\.action must be a gRPC URL/ },
      bad,
    );
  }
  t.throws(() => assertGrpcBranchUrl('etcd://busi/x.Y/Z', 'query_prepared'), {
    message: /^\[DTM_BAD_URL\] query_prepared must be an http\(s\) URL or a gRPC host:port\/package.Service\/Method \(other schemes, such as service discovery/,
  });
});

t.test('WorkflowData encodes as proto does, and reaches workflow.Workflow/Execute byte-exact', async (t) => {
  const WorkflowData = loadSync('workflow.proto', { includeDirs: [protoDir()] })['workflow.WorkflowData'] as MessageTypeDefinition<
    { Data?: Buffer },
    { Data?: Buffer }
  >;
  t.equal(encodeWorkflowData(Buffer.from('hi')).toString('hex'), '0a026869');
  t.equal(encodeWorkflowData(Buffer.alloc(0)).length, 0, 'empty data: an empty message');
  for (const n of [1, 127, 128, 300, 16383, 16384, 70000]) {
    const data = Buffer.alloc(n, n % 251);
    const encoded = encodeWorkflowData(data);
    t.equal(WorkflowData.deserialize(encoded).Data!.toString('hex'), data.toString('hex'), `${n} bytes decode back`);
    t.equal(encoded.toString('hex'), WorkflowData.serialize({ Data: data }).toString('hex'), `${n} bytes encode like protobufjs`);
  }
  const input = Buffer.concat([BINARY, Buffer.from('{"amount":1}')]);
  const o = await caller.call(
    req(busi.workflowUrl, { body: encodeWorkflowData(input), query: { gid: 'w', trans_type: 'workflow', branch_id: '00', op: 'wf-name' } }),
  );
  t.equal(o.result, 'SUCCESS');
  const c = busi.callsTo('Execute', 'wf-name')[0]!;
  t.equal(c.path, '/workflow.Workflow/Execute');
  t.same([c.metadata['dtm-branch_id'], c.metadata['dtm-trans_type']], ['00', 'workflow']);
  t.equal(WorkflowData.deserialize(c.body).Data!.toString('hex'), input.toString('hex'));
});
