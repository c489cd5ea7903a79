/**
 * The HTTP API: basics, state errors, admin endpoints, input validation and metrics, named after
 * the conformance items of dtm-protocol.md §13. Time moves with the fake clock and the cron runs
 * with poller.tick(); only the finished-data TTL (a Redis TTL) needs real time.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { SCRIPTS, scriptSource } from '../../src/store/scripts.js';
import { loadUws } from '../../src/http/uws-backend.js';
import { startBusi, type Busi, type BusiCall } from '../fixtures/busi.js';
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

/** A subtest's `t` (the last overload of t.test is `(cb)`). */
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** Calls the business service received for one gid (other tests' leftovers never count). */
const callsOf = (gid: string): BusiCall[] => busi.calls.filter((c) => c.query['gid'] === gid);

/** Waits until no round of `gid` is in flight in the app (a background submit round). */
async function settle(app: TestApp, gid: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (app.app.engine.active.has(gid)) {
    if (Date.now() > deadline) throw new Error(`round of ${gid} did not finish`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A record time (RFC 3339 string) as ms. */
const ms = (time: string): number => Date.parse(time);

/** A raw request with the response headers, for content types. */
async function raw(url: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(url, init);
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

/** Asserts a 4xx JSON answer with a non-empty message, and that `gid` (if given) was not stored. */
async function expectRejected(
  t: Test,
  app: TestApp,
  path: string,
  body: string,
  what: string,
  opts: { status?: number; gid?: string; message?: RegExp } = {},
): Promise<void> {
  const status = opts.status ?? 400;
  const r = await raw(`${app.dtm}/${path}`, { method: 'POST', body });
  t.equal(r.status, status, `${what}: answered ${status}`);
  t.match(r.type, /^application\/json/, `${what}: the answer is JSON`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.text);
  } catch {
    parsed = r.text;
  }
  t.match(parsed, { message: opts.message ?? /\S/ }, `${what}: the body carries a message`);
  t.notOk(typeof parsed === 'object' && parsed !== null && 'dtm_result' in parsed, `${what}: no dtm_result, so SDKs cannot read it as success`);
  if (opts.gid !== undefined) {
    t.strictSame(await app.query(opts.gid), { transaction: null, branches: [] }, `${what}: nothing was stored`);
  }
}

t.test('1. ping answers pong on any method; version answers a version string', async (t) => {
  t.strictSame(await dtm.get('../ping'), { status: 200, body: { msg: 'pong' } }, 'GET /api/ping → 200 {"msg":"pong"}');
  const post = await raw(`${dtm.base}/api/ping`, { method: 'POST', body: '' });
  t.strictSame({ status: post.status, body: JSON.parse(post.text) }, { status: 200, body: { msg: 'pong' } }, 'POST /api/ping → 200 pong too');
  t.match(post.type, /^application\/json/, 'ping answers JSON');
  const v = await dtm.get('version');
  t.match(v, { status: 200, body: { version: String } }, 'GET version → 200 with a version string');
  t.ok(v.body.version.length > 0, 'the version is not empty');
});

t.test('2. newGid returns a 22-char shortuuid with dtm_result SUCCESS, different each call', async (t) => {
  const a = await dtm.get('newGid');
  const b = await dtm.get('newGid');
  t.match(a, { status: 200, body: { dtm_result: 'SUCCESS', gid: /^[2-9A-HJ-NP-Za-km-z]{22}$/ } }, 'first newGid is a shortuuid');
  t.match(b, { status: 200, body: { dtm_result: 'SUCCESS', gid: /^[2-9A-HJ-NP-Za-km-z]{22}$/ } }, 'second newGid is a shortuuid');
  t.strictSame(Object.keys(a.body).sort(), ['dtm_result', 'gid'], 'newGid has exactly gid and dtm_result');
  t.not(a.body.gid, b.body.gid, 'two calls give different gids');
});

t.test('3. unknown path or wrong method → gin plain-text 404', async (t) => {
  const unknown = await raw(`${dtm.dtm}/noSuchThing`);
  t.strictSame({ status: unknown.status, text: unknown.text }, { status: 404, text: '404 page not found' }, 'unknown path → 404 page not found');
  t.match(unknown.type, /^text\/plain/, 'the 404 is plain text');
  const wrongMethod = await raw(`${dtm.dtm}/submit`);
  t.strictSame({ status: wrongMethod.status, text: wrongMethod.text }, { status: 404, text: '404 page not found' }, 'GET on a POST route → 404');
  const outside = await raw(`${dtm.base}/nothing/here`, { method: 'PUT', body: 'x' });
  t.equal(outside.status, 404, 'a path outside the API → 404');
});

t.test('4. submit with malformed JSON → 400 with a message (deliberate deviation: DTM answers 500; 4xx for bad input)', async (t) => {
  await expectRejected(t, dtm, 'submit', '{"gid": "x", "trans_type": "saga",', 'truncated JSON', { message: /DTM_BAD_JSON/ });
  await expectRejected(t, dtm, 'prepare', 'not json at all', 'garbage on prepare', { message: /DTM_BAD_JSON/ });
  await expectRejected(t, dtm, 'submit', '[1,2]', 'a JSON array instead of an object', { message: /DTM_BAD_BODY/ });
  t.strictSame(await dtm.get('../ping'), { status: 200, body: { msg: 'pong' } }, 'the server keeps serving');
});

t.test('29. submit on a succeed gid → 409 "current status \'succeed\', cannot sumbmit. FAILURE"', async (t) => {
  const gid = gidOf(t.name);
  const body = sagaBody(gid, busi.url, [['i29-TransOut', 'i29-TransOutRevert']], { wait_result: true });
  t.strictSame(await dtm.post('submit', body), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'first submit succeeds');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'the saga is succeed');
  t.strictSame(
    await dtm.post('submit', body),
    { status: 409, body: { dtm_result: 'FAILURE', message: "current status 'succeed', cannot sumbmit. FAILURE" } },
    'second submit → 409 with the exact DTM text (typo included)',
  );
  t.equal(callsOf(gid).length, 1, 'the action was not called again');
});

t.test('30. msg prepare twice → 200 both; prepare after succeed (or while submitted) → 409', async (t) => {
  const gid = gidOf(t.name);
  const body = {
    gid,
    trans_type: 'msg',
    steps: [{ action: `${busi.url}/i30-TransIn` }],
    payloads: ['{"amount":30}'],
    query_prepared: `${busi.url}/i30-QueryPrepared`,
  };
  t.strictSame(await dtm.post('prepare', body), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'first prepare → 200');
  const before = await dtm.query(gid);
  t.strictSame(await dtm.post('prepare', body), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'second prepare → 200 (idempotent)');
  t.strictSame(await dtm.query(gid), before, 'the second prepare changed nothing');
  t.equal(before.transaction.status, 'prepared', 'status is prepared');

  t.strictSame(await dtm.post('submit', { ...body, wait_result: true }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'submit → 200 and succeed');
  t.strictSame(
    await dtm.post('prepare', body),
    { status: 409, body: { dtm_result: 'FAILURE', message: "current status 'succeed', cannot prepare. FAILURE" } },
    'prepare after succeed → 409 with the exact text',
  );

  const gid2 = gidOf(`${t.name} submitted`);
  busi.next('i30-Stuck', 'ERROR');
  const body2 = { gid: gid2, trans_type: 'msg', steps: [{ action: `${busi.url}/i30-Stuck` }], payloads: ['{}'] };
  t.strictSame(await dtm.post('submit', body2), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'a msg whose action errors is accepted');
  await settle(dtm, gid2);
  t.equal((await dtm.query(gid2)).transaction.status, 'submitted', 'it stays submitted');
  t.strictSame(
    await dtm.post('prepare', body2),
    { status: 409, body: { dtm_result: 'FAILURE', message: "current status 'submitted', cannot prepare. FAILURE" } },
    'prepare while submitted → 409 naming submitted',
  );
  t.strictSame(await dtm.post('forceStop', { gid: gid2 }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'cleanup: force-stop the stuck msg');
});

t.test('31. abort on a saga → 409 "trans type: \'saga\' current status …"', async (t) => {
  const gid = gidOf(t.name);
  t.equal((await dtm.post('submit', sagaBody(gid, busi.url, [['i31-TransOut', '']], { wait_result: true }))).status, 200, 'saga submitted and done');
  const r = await dtm.post('abort', { gid, trans_type: 'saga' });
  t.strictSame(
    r,
    { status: 409, body: { dtm_result: 'FAILURE', message: "trans type: 'saga' current status 'succeed', cannot abort. FAILURE" } },
    'abort → 409 FAILURE naming the type and status',
  );
  t.match(r.body.message, /^trans type: 'saga' current status /, 'message starts as DTM tests expect');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'status unchanged');
});

t.test('32. abort on an unknown gid → 500 "no TransGlobal with gid: <gid> found"', async (t) => {
  const gid = gidOf(t.name);
  t.strictSame(
    await dtm.post('abort', { gid, trans_type: 'msg' }),
    { status: 500, body: { message: `no TransGlobal with gid: ${gid} found` } },
    'abort unknown → 500 with the exact message and no dtm_result',
  );
  t.strictSame(await dtm.query(gid), { transaction: null, branches: [] }, 'and nothing was created');
});

t.test('33. query without gid → 500 "no gid specified"; unknown gid → 200 null/[]', async (t) => {
  t.strictSame(await dtm.get('query'), { status: 500, body: { message: 'no gid specified' } }, 'no gid → 500');
  t.strictSame(await dtm.get('query?gid='), { status: 500, body: { message: 'no gid specified' } }, 'empty gid → 500');
  t.strictSame(await dtm.get(`query?gid=${gidOf(t.name)}`), { status: 200, body: { transaction: null, branches: [] } }, 'unknown gid → 200 null');
});

t.test('34. submit with an unknown trans_type → 400 with a message, nothing stored (deliberate hardening: DTM answers 500)', async (t) => {
  const gid = gidOf(t.name);
  await expectRejected(t, dtm, 'submit', JSON.stringify({ gid, trans_type: 'sagax', steps: [], payloads: [] }), 'unknown trans_type', {
    gid,
    message: /trans_type/,
  });
  await expectRejected(t, dtm, 'prepare', JSON.stringify({ gid, trans_type: 42 }), 'non-string trans_type', { gid });
  await expectRejected(t, dtm, 'submit', JSON.stringify({ gid }), 'missing trans_type', { gid });
});

t.test('59. forceStop: submitted saga → failed without compensation or retries; final → 409; unknown → 500', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i59-TransOut', 'ERROR', 'ERROR', 'ERROR');
  t.strictSame(
    await dtm.post('submit', sagaBody(gid, busi.url, [['i59-TransOut', 'i59-TransOutRevert']])),
    { status: 200, body: { dtm_result: 'SUCCESS' } },
    'saga submitted',
  );
  await settle(dtm, gid);
  const q = await dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'the failing action left it submitted with backoff');
  t.strictSame(
    callsOf(gid).map((c) => c.query['op']),
    ['action'],
    'one action call so far',
  );

  t.strictSame(await dtm.post('forceStop', { gid }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'forceStop → 200 SUCCESS');
  const stopped = await dtm.query(gid);
  t.match(stopped.transaction, { status: 'failed', rollback_time: String }, 'status failed with rollback_time');
  t.strictSame(
    stopped.branches.map((b: { status: string }) => b.status),
    ['prepared', 'prepared'],
    'no branch was touched',
  );

  dtm.clock.advance(3_600_000);
  await dtm.app.poller.tick();
  await dtm.app.poller.tick();
  t.strictSame(
    callsOf(gid).map((c) => c.query['op']),
    ['action'],
    'no compensation and no further retries after an hour and two ticks',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'failed', 'still failed');

  t.strictSame(
    await dtm.post('forceStop', { gid }),
    { status: 409, body: { dtm_result: 'FAILURE', message: 'global transaction force stop error. status: failed. error: FAILURE' } },
    'forceStop on a failed gid → 409',
  );
  const done = gidOf(`${t.name} done`);
  await dtm.post('submit', sagaBody(done, busi.url, [['i59-Ok', '']], { wait_result: true }));
  t.strictSame(
    await dtm.post('forceStop', { gid: done }),
    { status: 409, body: { dtm_result: 'FAILURE', message: 'global transaction force stop error. status: succeed. error: FAILURE' } },
    'forceStop on a succeed gid → 409 with the exact text',
  );
  const unknown = gidOf(`${t.name} unknown`);
  t.strictSame(
    await dtm.post('forceStop', { gid: unknown }),
    { status: 500, body: { message: `no TransGlobal with gid: ${unknown} found` } },
    'forceStop on an unknown gid → 500',
  );
});

t.test('60. resetNextCronTime makes a backed-off saga due now and the next tick retries it; unknown → 500', async (t) => {
  const gid = gidOf(t.name);
  busi.next('i60-TransOut', 'ERROR');
  await dtm.post('submit', sagaBody(gid, busi.url, [['i60-TransOut', '']]));
  await settle(dtm, gid);
  const before = await dtm.query(gid);
  const now = dtm.clock.now();
  t.match(before.transaction, { status: 'submitted', next_cron_interval: 20 }, 'backed off after the error');
  t.ok(ms(before.transaction.next_cron_time) >= now + 19_000, 'next_cron_time is about 20 s out');

  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 1, 'a tick before the reset does not retry it');

  t.strictSame(await dtm.post('resetNextCronTime', { gid }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'resetNextCronTime → 200');
  const after = await dtm.query(gid);
  t.ok(ms(after.transaction.next_cron_time) <= dtm.clock.now() + 3000, 'query shows next_cron_time ≤ now + 3 s');
  t.ok(ms(after.transaction.next_cron_time) >= dtm.clock.now() - 1000, 'and not in the distant past');

  await dtm.app.poller.tick();
  t.equal(callsOf(gid).length, 2, 'the very next tick retried the action');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'and the saga completed');

  const unknown = gidOf(`${t.name} unknown`);
  t.strictSame(
    await dtm.post('resetNextCronTime', { gid: unknown }),
    { status: 500, body: { message: `no TransGlobal with gid: ${unknown} found` } },
    'unknown gid → 500',
  );
  t.strictSame(await dtm.query(unknown), { transaction: null, branches: [] }, 'and nothing was created');
});

t.test('61. resetCronTime?timeout=100&limit=9 with 10 far-out transactions → has_remaining, 9 reset and retried', async (t) => {
  // A private app and Redis: resetCronTime counts every transaction in the store.
  const app = await startTestApp();
  t.teardown(() => app.stop());
  const gids = Array.from({ length: 10 }, (_, i) => gidOf(`${t.name} ${i}`));
  busi.next('i61-Flaky', ...gids.map(() => 'ERROR' as const));
  for (const gid of gids) {
    t.equal((await app.post('submit', sagaBody(gid, busi.url, [['i61-Flaky', '']], { retry_interval: 200 }))).status, 200, `${gid} submitted`);
  }
  for (const gid of gids) await settle(app, gid);
  const now = app.clock.now();
  for (const gid of gids) {
    const q = await app.query(gid);
    if (ms(q.transaction.next_cron_time) <= now + 100_000) t.fail(`${gid} should be scheduled > 100 s out, is ${q.transaction.next_cron_time}`);
  }
  t.pass('all 10 are scheduled more than 100 s out (retry_interval 200, backed off to 400)');

  t.strictSame(await app.get('resetCronTime?timeout=100&limit=9'), { status: 200, body: { has_remaining: true, succeed_count: 9 } }, '9 reset, more remain');
  const due: string[] = [];
  for (const gid of gids) if (ms((await app.query(gid)).transaction.next_cron_time) <= app.clock.now()) due.push(gid);
  t.equal(due.length, 9, 'exactly 9 are now due');

  t.equal(await app.app.poller.tick(), 9, 'one tick claims the 9');
  const retried = gids.filter((g) => callsOf(g).length === 2);
  t.strictSame(retried.sort(), [...due].sort(), 'the 9 reset ones were retried within that tick');
  for (const gid of retried) t.equal((await app.query(gid)).transaction.status, 'succeed', `${gid} succeeded on the retry`);
  const left = gids.filter((g) => !due.includes(g));
  t.equal(left.length, 1, 'one was left out by the limit');
  t.equal(callsOf(left[0]!).length, 1, 'the one left out was not retried');
  t.equal((await app.query(left[0]!)).transaction.status, 'submitted', 'and is still submitted');

  t.strictSame(
    await app.get('resetCronTime?timeout=100&limit=9'),
    { status: 200, body: { has_remaining: false, succeed_count: 1 } },
    'then the last one alone',
  );
  t.strictSame(await app.get('resetCronTime?timeout=100&limit=9'), { status: 200, body: { has_remaining: false, succeed_count: 0 } }, 'and then nothing');
  t.match(await app.get('resetCronTime?limit=x'), { status: 400, body: { message: /limit/ } }, 'a non-integer limit is a 400 with a message');
});

t.test('62. all: limit=1 paging visits each exactly once; gid lookup; status/transType/createTime filters', async (t) => {
  // A private app and Redis, so the listing holds exactly what this test created.
  const app = await startTestApp();
  t.teardown(() => app.stop());
  const created: Record<string, number> = {};
  const make = async (name: string, path: 'submit' | 'prepare', body: Record<string, unknown>): Promise<string> => {
    const gid = gidOf(`${t.name} ${name}`);
    created[gid] = app.clock.now();
    t.equal((await app.post(path, { ...body, gid })).status, 200, `${name} created`);
    app.clock.advance(10_000);
    return gid;
  };
  const sagaOk = (gid = 'x'): Record<string, unknown> => ({ ...sagaBody(gid, busi.url, [['', '']]), wait_result: true });
  const msg = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ trans_type: 'msg', steps: [{ action: '' }], payloads: ['{}'], ...extra });
  const s1 = await make('saga 1', 'submit', sagaOk());
  const s2 = await make('saga 2', 'submit', sagaOk());
  const m1 = await make('msg prepared', 'prepare', msg());
  const m2 = await make('msg done', 'submit', msg({ wait_result: true }));
  const f1 = await make('msg aborted', 'prepare', msg());
  t.equal((await app.post('abort', { gid: f1, trans_type: 'msg' })).status, 200, 'msg aborted → failed');
  const all = Object.keys(created);

  const seen: string[] = [];
  let position = '';
  for (let page = 0; page < 50; page++) {
    const r = await app.get(`all?limit=1&position=${encodeURIComponent(position)}`);
    t.equal(r.status, 200, `page ${page} → 200`);
    t.ok(r.body.transactions.length <= 1, `page ${page} has at most 1 transaction`);
    seen.push(...r.body.transactions.map((x: { gid: string }) => x.gid));
    position = r.body.next_position;
    if (seen.length < all.length) t.not(position, '', `page ${page}: next_position is non-empty while more exist`);
    if (position === '') break;
  }
  t.equal(position, '', 'following the cursor ends with next_position ""');
  t.strictSame([...seen].sort(), [...all].sort(), 'every transaction visited exactly once');

  const one = await app.get(`all?gid=${m1}`);
  t.strictSame(one, { status: 200, body: { transactions: [(await app.query(m1)).transaction], next_position: '' } }, 'all?gid=X → [record]');
  t.strictSame(await app.get(`all?gid=${gidOf('nobody')}`), { status: 200, body: { transactions: null, next_position: '' } }, 'unknown gid → null');

  const gidsOf = async (qs: string): Promise<string[]> => {
    const r = await app.get(`all?${qs}`);
    t.equal(r.body.next_position, '', `${qs}: the whole listing fits one page`);
    return r.body.transactions.map((x: { gid: string }) => x.gid).sort();
  };
  t.strictSame(await gidsOf('status=succeed'), [s1, s2, m2].sort(), 'status=succeed');
  t.strictSame(await gidsOf('status=prepared'), [m1], 'status=prepared');
  t.strictSame(await gidsOf('status=failed'), [f1], 'status=failed');
  t.strictSame(await gidsOf('status=aborting'), [], 'no match → [] (not null)');
  t.strictSame(await gidsOf('transType=saga'), [s1, s2].sort(), 'transType=saga');
  t.strictSame(await gidsOf('transType=msg&status=succeed'), [m2], 'transType and status combine');
  t.strictSame(await gidsOf(`createTimeStart=${created[s2]! - 5000}`), [s2, m1, m2, f1].sort(), 'createTimeStart (ms) excludes older');
  t.strictSame(await gidsOf(`createTimeEnd=${created[m2]! - 5000}`), [s1, s2, m1].sort(), 'createTimeEnd (ms) excludes newer');
  t.strictSame(await gidsOf(`createTimeStart=${created[s2]! - 5000}&createTimeEnd=${created[m1]! + 5000}&limit=10`), [s2, m1].sort(), 'both bounds together');
  t.match(await app.get('all?limit=abc'), { status: 400, body: { message: /limit/ } }, 'a non-integer limit → 400 with a message');
});

t.test('65. a finished transaction is queryable at once and gone after STORE_FINISHED_DATA_EXPIRE; an unfinished one stays', async (t) => {
  const app = await startTestApp({ env: { STORE_FINISHED_DATA_EXPIRE: '1' } });
  t.teardown(() => app.stop());
  const done = gidOf(`${t.name} done`);
  const aborted = gidOf(`${t.name} aborted`);
  const open = gidOf(`${t.name} open`);
  t.equal((await app.post('submit', { ...sagaBody(done, busi.url, [['', '']]), wait_result: true })).status, 200, 'saga done');
  await app.post('prepare', { gid: aborted, trans_type: 'msg', steps: [], payloads: [] });
  t.equal((await app.post('abort', { gid: aborted, trans_type: 'msg' })).status, 200, 'msg aborted');
  await app.post('prepare', { gid: open, trans_type: 'msg', steps: [], payloads: [] });
  t.equal((await app.query(done)).transaction?.status, 'succeed', 'the succeed one is queryable immediately');
  t.equal((await app.query(aborted)).transaction?.status, 'failed', 'the failed one is queryable immediately');

  await new Promise((r) => setTimeout(r, 2200)); // Redis TTLs run on real time
  t.strictSame(await app.query(done), { transaction: null, branches: [] }, 'the succeed one expired');
  t.strictSame(await app.query(aborted), { transaction: null, branches: [] }, 'the failed one expired');
  t.strictSame((await app.get(`all?gid=${done}`)).body, { transactions: null, next_position: '' }, 'all?gid= no longer finds it');
  t.equal((await app.query(open)).transaction?.status, 'prepared', 'the unfinished one is still there');
  const listed = (await app.get('all')).body.transactions.map((x: { gid: string }) => x.gid);
  t.strictSame(listed, [open], 'the listing shows only the unfinished one');
});

t.test('bad input: 4xx JSON with a message, nothing stored, the server keeps serving', async (t) => {
  const steps = [{ action: `${busi.url}/bad-TransOut`, compensate: `${busi.url}/bad-TransOutRevert` }];
  const good = (gid: string): Record<string, unknown> => ({ gid, trans_type: 'saga', steps, payloads: ['{}'] });
  const send = (body: unknown): string => JSON.stringify(body);

  await expectRejected(t, dtm, 'submit', send({ trans_type: 'saga', steps, payloads: ['{}'] }), 'missing gid', { message: /gid/ });
  t.equal(await dtm.app.store.getTrans(''), undefined, 'missing gid: no record under the empty gid');
  await expectRejected(t, dtm, 'prepare', send({ ...good(''), gid: '' }), 'empty gid', { message: /gid/ });
  await expectRejected(t, dtm, 'submit', send({ ...good('x'), gid: 7 }), 'numeric gid', { message: /gid/ });

  const long = 'g'.repeat(129);
  await expectRejected(t, dtm, 'submit', send(good(long)), 'gid of 129 chars', { gid: long, message: /gid/ });
  const max = 'g'.repeat(127) + Math.random().toString(36).slice(2, 3);
  t.equal((await dtm.post('prepare', good(max))).status, 200, 'a gid of exactly 128 chars is accepted');
  t.equal((await dtm.post('forceStop', { gid: max })).status, 200, 'cleanup of the 128-char gid');

  for (const bad of ['has space', ' lead', 'tab\there', 'caf\u00e9', 'nul\u0000x']) {
    await expectRejected(t, dtm, 'submit', send(good(bad)), `gid ${JSON.stringify(bad)}`, { gid: bad, message: /gid/ });
  }
  const g1 = gidOf('bad lengths');
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), payloads: ['{}', '{}'] }), 'more payloads than steps', { gid: g1, message: /payloads/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), steps: [...steps, ...steps] }), 'more steps than payloads', { gid: g1, message: /payloads/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), payloads: [1] }), 'a numeric payload', { gid: g1, message: /payloads/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), payloads: [{ amount: 30 }] }), 'an object payload', { gid: g1, message: /payloads/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), steps: 'nope' }), 'steps not an array', { gid: g1, message: /steps/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), wait_result: 'true' }), 'wait_result given as a string', { gid: g1, message: /wait_result/ });
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), retry_interval: '10' }), 'retry_interval given as a string', { gid: g1 });
  for (const url of ['ftp://x', 'javascript:1', 'localhost:8080/a', '/relative']) {
    await expectRejected(t, dtm, 'submit', send({ ...good(g1), steps: [{ action: url, compensate: '' }] }), `saga action URL ${url}`, {
      gid: g1,
      message: /URL/,
    });
  }
  await expectRejected(t, dtm, 'submit', send({ ...good(g1), steps: [{ action: '', compensate: 'ftp://x' }] }), 'saga compensate URL ftp://x', { gid: g1 });
  await expectRejected(
    t,
    dtm,
    'submit',
    send({ gid: g1, trans_type: 'msg', steps: [{ action: 'javascript:1' }], payloads: ['{}'] }),
    'msg action URL javascript:1',
    {
      gid: g1,
    },
  );
  await expectRejected(t, dtm, 'prepare', send({ gid: g1, trans_type: 'msg', steps: [], payloads: [], query_prepared: 'ftp://x' }), 'query_prepared ftp://x', {
    gid: g1,
  });
  await expectRejected(t, dtm, 'forceStop', send({ gid: 'a b' }), 'forceStop with a spaced gid', { message: /gid/ });
  await expectRejected(t, dtm, 'resetNextCronTime', send({}), 'resetNextCronTime without gid', { message: /gid/ });
  await expectRejected(t, dtm, 'abort', send('just a string'), 'abort with a non-object body', { message: /body/ });
  t.equal(callsOf(g1).length, 0, 'no business call was made for any rejected body');

  t.strictSame(await dtm.get('../ping'), { status: 200, body: { msg: 'pong' } }, 'after all that, ping still answers');
  const ok = gidOf('bad input then good');
  t.strictSame(await dtm.post('submit', { ...good(ok), wait_result: true }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'and a good submit still works');
});

t.test("a gid with braces is accepted and works end to end (deliberate: DTM's `{a}-<uuid>` hash-tag recipe)", async (t) => {
  const gid = `{a}-${gidOf(t.name)}`;
  t.strictSame(
    await dtm.post('submit', sagaBody(gid, busi.url, [['braces-TransOut', '']], { wait_result: true })),
    { status: 200, body: { dtm_result: 'SUCCESS' } },
    'submit with a braced gid → 200',
  );
  t.strictSame(
    callsOf(gid).map((c) => [c.path, c.query['branch_id']]),
    [['braces-TransOut', '01']],
    'the action got the braced gid',
  );
  t.match(await dtm.query(gid), { transaction: { gid, status: 'succeed' } }, 'query finds it by its braced gid');
  t.match((await dtm.get(`all?gid=${encodeURIComponent(gid)}`)).body, { transactions: [{ gid }] }, 'all?gid= finds it too');
  const keys = await dtm.redis.client.keys(`*${gid}*`);
  t.strictSame(keys, [dtm.app.store.keys.trans(gid)], 'its record sits behind our own hash tag, the gid after it');
  t.match(keys[0], /^\{[^}]*\}:g:\{a\}-/, "the key starts with our tag, not the gid's");
});

t.test('bad input: a body over MAX_BODY_BYTES → 413 JSON with a message, nothing stored', async (t) => {
  const app = await startTestApp({ env: { MAX_BODY_BYTES: '2048' }, redis: dtm.redis });
  t.teardown(() => app.stop());
  const gid = gidOf(t.name);
  const big = JSON.stringify({ gid, trans_type: 'msg', steps: [{ action: `${busi.url}/big` }], payloads: ['x'.repeat(4096)] });
  await expectRejected(t, app, 'submit', big, 'a 4 KiB body', { status: 413, gid, message: /DTM_BODY_TOO_LARGE/ });
  const huge = JSON.stringify({ gid, trans_type: 'msg', steps: [{ action: `${busi.url}/big` }], payloads: ['x'.repeat(1024 * 1024)] });
  await expectRejected(t, app, 'submit', huge, 'a 1 MiB body', { status: 413, gid, message: /DTM_BODY_TOO_LARGE/ });
  t.strictSame(await app.get('../ping'), { status: 200, body: { msg: 'pong' } }, 'ping still answers');
  const small = { gid, trans_type: 'msg', steps: [{ action: '' }], payloads: ['x'.repeat(1000)], wait_result: true };
  t.strictSame(await app.post('submit', small), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'a body under the cap is served');
});

t.test('64. GET /api/metrics: DTM counters after a saga; the api label never holds a query string or gid', async (t) => {
  const gid = gidOf(t.name);
  t.equal((await dtm.post('submit', sagaBody(gid, busi.url, [['i64-TransOut', '']], { wait_result: true }))).status, 200, 'a saga ran');
  await dtm.get(`query?gid=${gid}`);
  await dtm.get(`all?gid=${gid}&limit=5`);
  const m = await raw(`${dtm.base}/api/metrics`);
  t.equal(m.status, 200, 'metrics → 200');
  t.match(m.type, /^text\/plain/, 'metrics is text');
  t.match(m.text, /^dtm_server_process_total\{/m, 'has dtm_server_process_total');
  t.match(m.text, /^dtm_transaction_process_total\{model="saga",status="ok"\} \d+/m, 'has dtm_transaction_process_total{model="saga",status="ok"}');
  t.match(m.text, /^dtm_branch_process_total\{[^}]*branchtype="action"[^}]*\} \d+/m, 'has dtm_branch_process_total with branchtype="action"');
  const apis = [...m.text.matchAll(/^dtm_server_process_total\{[^}]*api="([^"]*)"/gm)].map((x) => x[1]!);
  t.ok(apis.includes('submit') && apis.includes('query') && apis.includes('all'), 'submit, query and all are counted by their route name');
  t.strictSame(
    apis.filter((a) => a.includes('?') || a.includes(gid) || a.includes('=')),
    [],
    'no api label contains a ? or a gid',
  );
  t.notMatch(m.text, gid, 'the gid appears nowhere in the metrics');
});

t.test('the HTTP backend is the one chosen: HTTP_BACKEND, else native uWS where its binary loads (always on Node 20), else node:http', async (t) => {
  const chosen = process.env['HTTP_BACKEND'] ?? 'auto';
  const uws = loadUws();
  if (process.versions.modules === '115' && process.platform === 'linux' && process.arch === 'x64')
    t.ok(uws.ok, `the native uWS binary loads on Node 20 (${uws.ok ? uws.binary : uws.reason})`);
  const want = chosen === 'auto' ? (uws.ok ? 'uws' : 'node') : chosen;
  t.equal(dtm.app.httpBackend(), want, `HTTP_BACKEND=${chosen} serves with ${want}`);
});

t.test('only executable input is accepted: bad ports, hosts, headers and gids are 400s with a stable code, nothing stored', async (t) => {
  const saga = (gid: string, action: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ gid, trans_type: 'saga', steps: [{ action, compensate: '' }], payloads: ['{}'], ...extra });
  const badUrls = ['http://127.0.0.1:99999/x', 'http://127.0.0.1:0/x', 'http://[::1/x', 'http://%zz/x'];
  for (const [i, url] of badUrls.entries()) {
    const gid = `${gidOf(t.name)}-url${i}`;
    await expectRejected(t, dtm, 'submit', saga(gid, url), `submit with ${url}`, { gid, message: /^\[DTM_BAD_URL\]/ });
    await expectRejected(t, dtm, 'prepare', JSON.stringify({ gid, trans_type: 'msg', query_prepared: url }), `prepare with query_prepared ${url}`, {
      gid,
      message: /^\[DTM_BAD_URL\]/,
    });
  }
  const headers: Record<string, string>[] = [{ 'x-a': 'a\r\nInjected: 1' }, { 'x y': 'v' }, { 'x-a': 'nul\u0000' }, { 'content-length': '3' }];
  for (const [i, h] of headers.entries()) {
    const gid = `${gidOf(t.name)}-hdr${i}`;
    await expectRejected(t, dtm, 'submit', saga(gid, `${busi.url}/TransOut`, { branch_headers: h }), `branch_headers ${JSON.stringify(h)}`, {
      gid,
      message: /^\[DTM_BAD_HEADER\]/,
    });
  }
  for (const gid of ['Xa;b', 'a\nb', 'a\rb']) {
    await expectRejected(t, dtm, 'submit', saga(gid, ''), `gid ${JSON.stringify(gid)}`, { message: /^\[DTM_BAD_GID\]/ });
    t.strictSame(
      await dtm.query(gid.replace(/[;\r\n]/g, '')),
      { transaction: null, branches: [] },
      `no transaction under the stripped gid of ${JSON.stringify(gid)}`,
    );
  }

  const tcc = gidOf(t.name);
  t.equal((await dtm.post('prepare', { gid: tcc, trans_type: 'tcc' })).status, 200, 'a TCC prepared');
  await expectRejected(
    t,
    dtm,
    'registerBranch',
    JSON.stringify({ gid: tcc, trans_type: 'tcc', branch_id: '01', confirm: 'http://h:0/c', cancel: `${busi.url}/c` }),
    'registerBranch with a port-0 confirm URL',
    { message: /^\[DTM_BAD_URL\] confirm/ },
  );
  t.strictSame((await dtm.query(tcc)).branches, [], 'no branch was registered');
  const sub = await dtm.get(`subscribe?topic=t-bad&url=${encodeURIComponent('http://[::1/x')}`);
  t.match(sub, { status: 400, body: { message: /^\[DTM_BAD_URL\]/ } }, 'subscribe with a bad URL: 400');
});

t.test('the URL fence refuses link-local metadata targets at submit, registerBranch and subscribe', async (t) => {
  const gid = gidOf(t.name);
  const metadata = 'http://169.254.169.254/latest/meta-data';
  await expectRejected(
    t,
    dtm,
    'submit',
    JSON.stringify({ gid, trans_type: 'saga', steps: [{ action: metadata, compensate: '' }], payloads: ['{}'] }),
    'a saga step',
    {
      gid,
      message: /^\[DTM_URL_DENIED\] 169\.254\.169\.254/,
    },
  );
  await expectRejected(
    t,
    dtm,
    'submit',
    JSON.stringify({ gid, trans_type: 'saga', steps: [{ action: 'http://127.0.0.1:1/ok', compensate: metadata }], payloads: ['{}'] }),
    'the same target again, as the second URL (its verdict is kept now)',
    {
      gid,
      message: /^\[DTM_URL_DENIED\] 169\.254\.169\.254/,
    },
  );
  await expectRejected(t, dtm, 'prepare', JSON.stringify({ gid, trans_type: 'msg', query_prepared: 'http://[fd00:ec2::254]/q' }), 'a check-back URL', {
    gid,
    message: /^\[DTM_URL_DENIED\]/,
  });
  const tcc = `${gid}-tcc`;
  t.equal((await dtm.post('prepare', { gid: tcc, trans_type: 'tcc' })).status, 200, 'a TCC prepared');
  await expectRejected(
    t,
    dtm,
    'registerBranch',
    JSON.stringify({ gid: tcc, trans_type: 'tcc', branch_id: '01', confirm: metadata, cancel: metadata }),
    'a TCC branch',
    { message: /^\[DTM_URL_DENIED\]/ },
  );
  t.match(
    await dtm.get(`subscribe?topic=t-fence&url=${encodeURIComponent(metadata)}`),
    { status: 400, body: { message: /^\[DTM_URL_DENIED\]/ } },
    'a subscriber',
  );
});

t.test('health: /livez while serving; /readyz 200 with Redis and the scripts, 503 with the reason without Redis', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.stop());
  t.strictSame(await raw(`${app.base}/livez`, { method: 'GET' }).then((r) => [r.status, JSON.parse(r.text)]), [200, { status: 'ok' }], '/livez → 200');
  t.strictSame(await raw(`${app.base}/readyz`, { method: 'GET' }).then((r) => [r.status, JSON.parse(r.text)]), [200, { status: 'ready' }], '/readyz → 200');
  await app.redis.client.script('FLUSH');
  t.equal((await raw(`${app.base}/readyz`, { method: 'GET' })).status, 200, 'scripts flushed from Redis: /readyz loads them again and is ready');
  const shas = SCRIPTS.map((d) => createHash('sha1').update(scriptSource(d.name)).digest('hex'));
  t.strictSame(
    await app.redis.client.script('EXISTS', ...shas),
    shas.map(() => 1),
    'every script is on the server again',
  );
  await app.redis.server.stop();
  const down = await raw(`${app.base}/readyz`, { method: 'GET' });
  t.equal(down.status, 503, 'Redis stopped: /readyz → 503');
  t.match(JSON.parse(down.text), { status: 'not ready', reason: /does not answer/ }, 'with the reason');
  t.equal((await raw(`${app.base}/livez`, { method: 'GET' })).status, 200, '/livez still 200: the process serves');
  await app.redis.restart();
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (status !== 200 && Date.now() < deadline) {
    status = (await raw(`${app.base}/readyz`, { method: 'GET' })).status;
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(status, 200, 'Redis back: ready again');
});
