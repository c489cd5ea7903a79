/** The SDK's Msg (2-phase message) against our coordinator and the fake business service. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { closeDtmHttp, DtmClientError, FailureError, Msg, type BranchBarrier } from '../../src/client/index.js';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);
t.teardown(closeDtmHttp);

const newMsg = (gid: string): Msg => new Msg(s.dtm.dtm, gid).add(`${s.busi.url}/TransIn`, { amount: 30 }).add(`${s.busi.url}/TransIn2`, 'raw');

t.test('msg: prepare then submit — the actions run in order with their payloads', async (t) => {
  const gid = gidOf(t.name);
  const msg = newMsg(gid);
  await msg.prepare(`${s.busi.url}/QueryPrepared`);
  t.match((await s.dtm.query(gid)).transaction, { status: 'prepared', query_prepared: `${s.busi.url}/QueryPrepared` }, 'prepared with its check-back URL');
  await msg.prepare(`${s.busi.url}/QueryPrepared`);
  t.pass('a repeated prepare is accepted');
  await msg.submit();
  await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['op'], c.query['branch_id'], c.body]),
    [
      ['TransIn', 'action', '01', '{"amount":30}'],
      ['TransIn2', 'action', '02', 'raw'],
    ],
    'actions in order',
  );
  await t.rejects(msg.prepare(''), { name: 'FailureError' }, 'prepare after submit → FailureError (409)');
});

t.test('msg: abort a prepared message — failed, no action called', async (t) => {
  const gid = gidOf(t.name);
  const msg = newMsg(gid);
  await msg.prepare(`${s.busi.url}/QueryPrepared`);
  await msg.abort();
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'failed');
  t.equal(s.busi.calls.length, 0, 'nothing called');
});

t.test('msg: delay and concurrent go on the wire; the coordinator holds the actions for the delay', async (t) => {
  const gid = gidOf(t.name);
  const msg = newMsg(gid).delay(5).enableConcurrent();
  t.match(msg.toBody(), { custom_data: '{"delay":5}', concurrent: true }, 'custom_data {delay} and concurrent');
  await msg.submit();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(s.busi.calls.length, 0, 'no action before the delay');
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  await s.dtm.waitStatus(gid, 'succeed');
  t.equal(s.busi.calls.length, 2, 'both actions after the delay');
});

t.test('msg: addTopic delivers to every subscriber of the topic', async (t) => {
  const gid = gidOf(t.name);
  const topic = `topic-${gid}`;
  for (const u of ['Sub1', 'Sub2'])
    t.equal((await s.dtm.get(`subscribe?topic=${topic}&url=${encodeURIComponent(`${s.busi.url}/${u}`)}`)).status, 200, `subscribe ${u}`);
  const msg = new Msg(s.dtm.dtm, gid).addTopic(topic, { amount: 1 });
  t.match(msg.toBody(), { steps: [{ action: `topic://${topic}` }] }, 'the step names the topic');
  await msg.submit();
  await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['branch_id']]).sort(),
    [
      ['Sub1', '01-01'],
      ['Sub2', '01-02'],
    ],
    'one call per subscriber',
  );
});

t.test('msg doAndSubmit: business succeeds — prepare, business with the msg barrier, submit', async (t) => {
  const gid = gidOf(t.name);
  let seen: BranchBarrier | undefined;
  let statusDuringBusiness = '';
  await newMsg(gid).doAndSubmit(`${s.busi.url}/QueryPrepared`, async (b) => {
    seen = b;
    statusDuringBusiness = (await s.dtm.query(gid)).transaction.status;
  });
  t.equal(statusDuringBusiness, 'prepared', 'the business runs while the message is prepared');
  t.match(seen, { transType: 'msg', gid, branchId: '00', op: 'msg' }, 'the msg barrier identity');
  t.equal(seen?.nextBarrierId(), '01', 'its first barrier id is 01');
  await s.dtm.waitStatus(gid, 'succeed');
  t.equal(s.busi.callsTo('QueryPrepared').length, 0, 'no check-back needed');
  t.equal(s.busi.callsTo('TransIn').length, 1, 'the action ran');
});

t.test('msg doAndSubmit: business FAILURE — abort, the error is re-thrown, no check-back', async (t) => {
  const gid = gidOf(t.name);
  const err = new FailureError('no stock');
  await t.rejects(
    newMsg(gid).doAndSubmit(`${s.busi.url}/QueryPrepared`, () => Promise.reject(err)),
    err,
    'the business error',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'aborted → failed');
  t.equal(s.busi.calls.length, 0, 'neither the check-back nor an action was called');
});

t.test('msg doAndSubmit: transient business error, query_prepared says SUCCESS — submit', async (t) => {
  const gid = gidOf(t.name);
  const err = new Error('connection reset after commit');
  await t.rejects(
    newMsg(gid).doAndSubmit(`${s.busi.url}/QueryPrepared`, () => Promise.reject(err)),
    err,
    'the business error is still returned',
  );
  const [check] = s.busi.callsTo('QueryPrepared');
  t.match(check, { method: 'GET', query: { dtm: s.dtm.dtm, gid, branch_id: '00', trans_type: 'msg', op: 'msg' } }, 'the SDK asked query_prepared itself');
  await s.dtm.waitStatus(gid, 'succeed');
  t.equal(s.busi.callsTo('TransIn').length, 1, 'submitted: the action ran');
});

t.test('msg doAndSubmit: transient business error, query_prepared says FAILURE — abort', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('QueryPrepared', 'FAILURE');
  await t.rejects(
    newMsg(gid).doAndSubmit(`${s.busi.url}/QueryPrepared`, () => Promise.reject(new Error('timeout'))),
    { message: 'timeout' },
    'the business error',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'aborted → failed');
  t.equal(s.busi.callsTo('TransIn').length, 0, 'no action');
});

t.test("msg doAndSubmit: transient error and an unclear check — left prepared, the coordinator's check-back settles it", async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('QueryPrepared', 'ERROR');
  await t.rejects(
    newMsg(gid).doAndSubmit(`${s.busi.url}/QueryPrepared`, () => Promise.reject(new Error('timeout'))),
    { message: 'timeout' },
    'the business error',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'prepared', 'still prepared');
  s.dtm.clock.advance(36_000);
  await s.dtm.app.poller.tick();
  await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    s.busi.callsTo('QueryPrepared').map((c) => c.query['dtm']),
    [s.dtm.dtm, undefined],
    'asked by the SDK, then by the coordinator (no dtm param)',
  );
});

t.test('msg doAndSubmitDB: the store barrier runner gets the msg barrier; its outcome drives submit', async (t) => {
  const gid = gidOf(t.name);
  const ids: string[] = [];
  await newMsg(gid).doAndSubmitDB(`${s.busi.url}/QueryPrepared`, async (b) => {
    ids.push(`${b.transType}/${b.gid === gid ? 'gid' : b.gid}/${b.branchId}/${b.op}/${b.nextBarrierId()}`);
  });
  t.strictSame(ids, ['msg/gid/00/msg/01'], 'one barrier (msg, gid, 00, msg, 01)');
  await s.dtm.waitStatus(gid, 'succeed');
  const gid2 = gidOf(`${t.name} failure`);
  await t.rejects(
    newMsg(gid2).doAndSubmitDB(`${s.busi.url}/QueryPrepared`, () => Promise.reject(new FailureError('x'))),
    FailureError,
    'FAILURE re-thrown',
  );
  t.equal((await s.dtm.query(gid2)).transaction.status, 'failed', 'aborted');
});

t.test('msg: coordinator errors surface as DtmClientError', async (t) => {
  await t.rejects(new Msg(s.dtm.dtm, gidOf(t.name)).abort(), DtmClientError, 'abort of an unknown gid (500)');
  await t.rejects(new Msg('http://127.0.0.1:1/api/dtmsvr', 'x').submit(), { name: 'DtmClientError', status: undefined }, 'transport error');
});

t.test('msg wire: prepare and submit send the same body, encoded once; every change after the prepare is sent', async (t) => {
  // A capture server in the coordinator's place: it records each request and answers SUCCESS.
  const got: { path: string; body: string }[] = [];
  const cap = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString() });
      res.end('{"dtm_result":"SUCCESS"}');
    });
  });
  await new Promise<void>((r) => cap.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => cap.close(r)));
  const server = `http://127.0.0.1:${(cap.address() as AddressInfo).port}/api/dtmsvr`;
  const fresh = (): Msg => new Msg(server, 'g"1').add('http://busi/TransIn', { amount: 1 });

  const m = fresh();
  await m.doAndSubmit('http://busi/QueryPrepared', async () => undefined);
  t.strictSame(
    got.map((g) => g.path),
    ['/api/dtmsvr/prepare', '/api/dtmsvr/submit'],
    'prepare, then submit',
  );
  t.equal(got[0]?.body, got[1]?.body, 'the same body');
  t.strictSame(JSON.parse(got[1]!.body), m.toBody(), 'which is toBody()');
  t.equal(got[1]?.body, JSON.stringify(m.toBody()), 'in its JSON form');

  const changes: [string, (x: Msg) => unknown][] = [
    ['add', (x) => x.add('http://busi/TransIn2', 'raw')],
    ['addTopic', (x) => x.addTopic('t', {})],
    ['delay', (x) => x.delay(7)],
    ['enableConcurrent', (x) => x.enableConcurrent()],
    ['waitResult', (x) => x.waitResult()],
    ['timeoutToFail', (x) => x.timeoutToFail(9)],
    ['retryInterval', (x) => x.retryInterval(3)],
    ['requestTimeout', (x) => x.requestTimeout(4)],
    ['branchHeaders', (x) => x.branchHeaders({ 'x-a': '1' })],
  ];
  for (const [name, change] of changes) {
    got.length = 0;
    const x = fresh();
    await x.prepare('http://busi/QueryPrepared');
    change(x);
    await x.submit();
    t.not(got[1]?.body, got[0]?.body, `${name} after the prepare changes the submit`);
    t.equal(got[1]?.body, JSON.stringify(x.toBody()), `${name}: the submit carries it`);
  }
  got.length = 0;
  const q = fresh();
  await q.prepare('http://busi/Q1');
  await q.prepare('http://busi/Q2');
  t.match(JSON.parse(got[1]!.body), { query_prepared: 'http://busi/Q2' }, 'a new check-back URL is sent');
  await q.abort();
  t.strictSame(JSON.parse(got[2]!.body), { gid: 'g"1', trans_type: 'msg' }, 'abort sends the gid (escaped) and the type');
});
