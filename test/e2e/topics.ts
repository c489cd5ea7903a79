/**
 * Topics and KV, named after the conformance items of dtm-protocol.md §13 (54, 55). Topics are
 * read fresh on every msg prepare/submit, so no wait stands in for DTM's 3 s cache refresh.
 */
import t from 'tap';
import { startBusi, type Busi, type BusiCall } from '../fixtures/busi.js';
import { gidOf, startTestApp, type TestApp } from '../fixtures/app.js';

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

const SUCCESS = { status: 200, body: { dtm_result: 'SUCCESS' } };
const E500 = (message: string): { status: number; body: { message: string } } => ({ status: 500, body: { message } });

const q = encodeURIComponent;
const callsOf = (gid: string): BusiCall[] => busi.calls.filter((c) => c.query['gid'] === gid);
const subscribe = (topic: string, url: string, remark = ''): ReturnType<TestApp['get']> =>
  dtm.get(`subscribe?topic=${q(topic)}&url=${q(url)}&remark=${q(remark)}`);
const unsubscribe = (topic: string, url: string): ReturnType<TestApp['get']> => dtm.get(`unsubscribe?topic=${q(topic)}&url=${q(url)}`);
async function deleteTopic(name: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${dtm.dtm}/topic/${q(name)}`, { method: 'DELETE' });
  return { status: r.status, body: (await r.json()) as unknown };
}
async function queryKV(cat: string, key: string): Promise<any> {
  const r = await dtm.get(`queryKV?cat=${q(cat)}&key=${q(key)}`);
  if (r.status !== 200) throw new Error(`queryKV answered ${r.status}`);
  return r.body;
}

function msgBody(gid: string, actions: string[]): Record<string, unknown> {
  return { gid, trans_type: 'msg', steps: actions.map((action) => ({ action })), payloads: actions.map((_, i) => JSON.stringify({ amount: 30, step: i })) };
}

t.test("54. topics: subscribe answers 200; the same url again, an empty topic or url answer DTM's 500", async (t) => {
  t.strictSame(await subscribe('t54', `${busi.url}/i54-U1`, 'r'), SUCCESS, 'subscribe → 200 SUCCESS');
  t.strictSame(await subscribe('t54', `${busi.url}/i54-U1`, 'r'), E500('this url exists'), 'the same again → 500 this url exists');
  t.strictSame(await subscribe('t54', `${busi.url}/i54-U1`, 'another remark'), E500('this url exists'), 'another remark does not make it another subscriber');
  t.strictSame(await subscribe('', `${busi.url}/i54-U1`), E500('empty topic'), 'empty topic → 500');
  t.strictSame(await dtm.get(`subscribe?url=${q(busi.url)}`), E500('empty topic'), 'no topic parameter → 500');
  t.strictSame(await subscribe('t54', ''), E500('empty url'), 'empty url → 500');
  t.strictSame(await subscribe('', ''), E500('empty topic'), 'both empty → the topic is checked first');
  t.match(
    await subscribe('t54', 'ftp://x/y'),
    { status: 400, body: { message: /^\[DTM_BAD_URL\] url must be an http\(s\) URL or a gRPC host:port/ } },
    'a url we could never call → 400 DTM_BAD_URL',
  );
  t.match(await queryKV('topics', 't54'), { kv: [{ version: 1 }] }, 'the refused calls changed nothing');
});

t.test('54. msg: topic:// with subscribers U1 and U2 → branches 01-01 and 01-02, both POSTed the same payload', async (t) => {
  t.strictSame(await subscribe('t54-two', `${busi.url}/i54-U1`), SUCCESS, 'U1 subscribed');
  t.strictSame(await subscribe('t54-two', `${busi.url}/i54-U2`), SUCCESS, 'U2 subscribed');
  const gid = gidOf(t.name);
  const body = msgBody(gid, ['topic://t54-two']);
  t.strictSame(await dtm.post('submit', body), SUCCESS, 'submit right after subscribing → 200 (no cache lag)');
  const done = await dtm.waitStatus(gid, 'succeed');
  const payload = (body['payloads'] as string[])[0];
  t.strictSame(
    callsOf(gid)
      .map((c) => [c.method, c.path, c.query['branch_id'], c.query['op'], c.body])
      .sort(),
    [
      ['POST', 'i54-U1', '01-01', 'action', payload],
      ['POST', 'i54-U2', '01-02', 'action', payload],
    ],
    'each subscriber called once with the same payload and its own branch id',
  );
  t.strictSame(
    done.branches.map((b: { branch_id: string; op: string; url: string; status: string }) => [b.branch_id, b.op, b.url, b.status]),
    [
      ['01-01', 'action', `${busi.url}/i54-U1`, 'succeed'],
      ['01-02', 'action', `${busi.url}/i54-U2`, 'succeed'],
    ],
    'the stored branches, in subscription order',
  );
});

t.test('54. msg: a topic with a single subscriber gives branch id 01, and mixes with plain steps', async (t) => {
  t.strictSame(await subscribe('t54-one', `${busi.url}/i54-solo`), SUCCESS, 'one subscriber');
  const gid = gidOf(t.name);
  t.strictSame(await dtm.post('submit', msgBody(gid, ['topic://t54-one', `${busi.url}/i54-plain`])), SUCCESS, 'submit → 200');
  const done = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    done.branches.map((b: { branch_id: string; url: string }) => [b.branch_id, b.url]),
    [
      ['01', `${busi.url}/i54-solo`],
      ['02', `${busi.url}/i54-plain`],
    ],
    '01 for the topic step, 02 for the plain one',
  );
  t.strictSame(
    callsOf(gid).map((c) => [c.path, c.query['branch_id']]),
    [
      ['i54-solo', '01'],
      ['i54-plain', '02'],
    ],
    'called in step order',
  );
});

t.test('54. msg: a prepared message expands its topic at prepare, and submit keeps those branches', async (t) => {
  t.strictSame(await subscribe('t54-prep', `${busi.url}/i54-prep1`), SUCCESS, 'one subscriber at prepare time');
  const gid = gidOf(t.name);
  const body = { ...msgBody(gid, ['topic://t54-prep']), query_prepared: `${busi.url}/i54-qp` };
  t.strictSame(await dtm.post('prepare', body), SUCCESS, 'prepare → 200');
  t.strictSame(
    (await dtm.query(gid)).branches.map((b: { branch_id: string; status: string }) => [b.branch_id, b.status]),
    [['01', 'prepared']],
    'the branch is stored at prepare',
  );
  t.strictSame(await subscribe('t54-prep', `${busi.url}/i54-prep2`), SUCCESS, 'a second subscriber after prepare');
  t.strictSame(await dtm.post('submit', body), SUCCESS, 'submit → 200');
  const done = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    done.branches.map((b: { branch_id: string; url: string }) => [b.branch_id, b.url]),
    [['01', `${busi.url}/i54-prep1`]],
    'the message keeps the branches stored at prepare',
  );
});

t.test('54. msg: an unknown topic, or one without subscribers, is 500 topic not found and nothing is stored', async (t) => {
  for (const mode of ['submit', 'prepare'] as const) {
    const gid = gidOf(`${t.name} ${mode}`);
    const r = await dtm.post(mode, msgBody(gid, [`${busi.url}/i54-never`, 'topic://t54-nobody']));
    t.equal(r.status, 500, `${mode}: 500`);
    t.match(r.body, { message: /topic not found/ }, `${mode}: the message contains "topic not found"`);
    t.strictSame(await dtm.query(gid), { transaction: null, branches: [] }, `${mode}: nothing stored`);
    t.strictSame(callsOf(gid), [], `${mode}: nothing called`);
  }
  t.strictSame(await subscribe('t54-empty', `${busi.url}/i54-gone`), SUCCESS, 'a subscriber');
  t.strictSame(await unsubscribe('t54-empty', `${busi.url}/i54-gone`), SUCCESS, 'and gone again');
  const gid = gidOf(`${t.name} empty`);
  t.match(
    await dtm.post('submit', msgBody(gid, ['topic://t54-empty'])),
    { status: 500, body: { message: /topic not found/ } },
    'a topic with no subscriber: 500 topic not found',
  );
  t.strictSame(await dtm.query(gid), { transaction: null, branches: [] }, 'nothing stored');
});

t.test("55. unsubscribe: an unknown url or topic answers DTM's 500; the last url leaves an empty topic", async (t) => {
  t.strictSame(await subscribe('t55-un', `${busi.url}/i55-U1`), SUCCESS, 'U1 subscribed');
  t.strictSame(await unsubscribe('t55-un', `${busi.url}/i55-other`), E500('no such an url '), 'an unknown url → 500 "no such an url " (trailing space)');
  t.strictSame(await unsubscribe('t55-nothing', `${busi.url}/i55-U1`), E500('no such a topic'), 'an unknown topic → 500 no such a topic');
  t.strictSame(await unsubscribe('', `${busi.url}/i55-U1`), E500('empty topic'), 'empty topic → 500');
  t.strictSame(await unsubscribe('t55-un', ''), E500('empty url'), 'empty url → 500');
  t.strictSame(await unsubscribe('t55-un', `${busi.url}/i55-U1`), SUCCESS, 'U1 unsubscribed');
  t.match(await queryKV('topics', 't55-un'), { kv: [{ v: '[]', version: 2 }] }, 'the topic stays with no subscriber');
  t.strictSame(await unsubscribe('t55-un', `${busi.url}/i55-U1`), E500('this topic is empty'), 'again → 500 this topic is empty');
});

t.test('55. DELETE /topic/:name answers 200, then 500 storage: NotFound; msg sees the deletion at once', async (t) => {
  t.strictSame(await subscribe('t55-del', `${busi.url}/i55-D`), SUCCESS, 'subscribed');
  t.strictSame(await deleteTopic('t55-del'), SUCCESS, 'DELETE → 200 SUCCESS');
  t.strictSame(await queryKV('topics', 't55-del'), { kv: [] }, 'gone from queryKV');
  t.strictSame(await deleteTopic('t55-del'), E500('storage: NotFound'), 'DELETE again → 500 storage: NotFound');
  const gid = gidOf(t.name);
  t.match(
    await dtm.post('submit', msgBody(gid, ['topic://t55-del'])),
    { status: 500, body: { message: /topic not found/ } },
    'a msg on the deleted topic: topic not found (DTM would still use its cache)',
  );
  t.strictSame(await subscribe('a b/é', `${busi.url}/i55-odd`), SUCCESS, 'a topic name with a space, a slash and non-ASCII');
  t.strictSame(await deleteTopic('a b/é'), SUCCESS, 'DELETE with the percent-encoded name → 200');
  t.strictSame(await queryKV('topics', 'a b/é'), { kv: [] }, 'that topic is gone');
  const malformed = await fetch(`${dtm.dtm}/topic/%E0%A4%A`, { method: 'DELETE' });
  t.strictSame(
    { status: malformed.status, body: await malformed.json() },
    E500('storage: NotFound'),
    'a malformed escape in the name is taken as sent (and does not crash the server)',
  );
  const unknown = await fetch(`${dtm.dtm}/topic/`, { method: 'DELETE' });
  t.equal(unknown.status, 404, 'DELETE /topic/ without a name → 404');
  await unknown.text();
});

t.test('55. queryKV shows the topic record, its version counting each subscribe and unsubscribe', async (t) => {
  const start = dtm.clock.now();
  t.strictSame(await subscribe('t55-kv', 'http://s1.test/a', 'first'), SUCCESS, 'subscribe s1');
  let kv = await queryKV('topics', 't55-kv');
  t.strictSame(
    kv,
    {
      kv: [
        {
          id: 0,
          create_time: kv.kv[0].create_time,
          update_time: kv.kv[0].update_time,
          cat: 'topics',
          k: 't55-kv',
          v: '[{"url":"http://s1.test/a","remark":"first"}]',
          version: 1,
        },
      ],
    },
    "DTM's KVStore JSON: id 0, times, cat, k, v (the subscribers' JSON text), version 1",
  );
  t.equal(Date.parse(kv.kv[0].create_time), start, "create_time is the (fake) clock's time, as RFC 3339");
  dtm.clock.advance(60_000);
  t.strictSame(await subscribe('t55-kv', 'http://s2.test/a?x=1&y=2'), SUCCESS, 'subscribe s2');
  kv = await queryKV('topics', 't55-kv');
  t.match(
    kv.kv[0],
    { version: 2, v: '[{"url":"http://s1.test/a","remark":"first"},{"url":"http://s2.test/a?x=1\\u0026y=2","remark":""}]' },
    'version 2; & spelled \\u0026 as Go writes it',
  );
  t.equal(Date.parse(kv.kv[0].update_time) - Date.parse(kv.kv[0].create_time), 60_000, 'update_time moved with the clock; create_time kept');
  t.strictSame(await unsubscribe('t55-kv', 'http://s1.test/a'), SUCCESS, 'unsubscribe s1');
  t.match((await queryKV('topics', 't55-kv')).kv[0], { version: 3, v: '[{"url":"http://s2.test/a?x=1\\u0026y=2","remark":""}]' }, 'version 3');
  t.strictSame(await queryKV('topics', 't55-none'), { kv: [] }, 'an absent key → {"kv":[]}');
  t.strictSame(await queryKV('no-such-cat', ''), { kv: null }, 'no key and an empty cat → {"kv":null}');
  const all = await queryKV('topics', '');
  t.ok(
    ['t54', 't55-kv'].every((k) => all.kv.some((r: { k: string }) => r.k === k)),
    'no key → every topic of the cat',
  );
});

t.test('55. scanKV pages the topics with limit and position until next_position is ""', async (t) => {
  for (let i = 0; i < 5; i++) t.strictSame(await subscribe(`t55-scan-${i}`, 'http://s.test/a'), SUCCESS, `topic ${i}`);
  const seen: string[] = [];
  const sizes: number[] = [];
  let position = '';
  let rounds = 0;
  do {
    const r = await dtm.get(`scanKV?cat=topics&limit=2&position=${q(position)}`);
    t.equal(r.status, 200, `page ${rounds}: 200`);
    sizes.push(r.body.kv.length);
    seen.push(...r.body.kv.map((x: { k: string }) => x.k));
    position = r.body.next_position;
    rounds++;
  } while (position !== '' && rounds < 100);
  t.equal(position, '', 'the last page ends with next_position ""');
  t.ok(sizes.every((n) => n === 2) || sizes.slice(0, -1).every((n) => n === 2), `full pages of 2 but the last (${sizes.join(', ')})`);
  t.strictSame(seen, [...new Set(seen)].sort(), 'every topic once, in key order');
  t.ok(
    [0, 1, 2, 3, 4].every((i) => seen.includes(`t55-scan-${i}`)),
    'all five new topics are listed',
  );
  const whole = await dtm.get('scanKV?cat=topics');
  t.match(whole, { status: 200, body: { next_position: '' } }, 'default limit 100: one page');
  t.equal(whole.body.kv.length, seen.length, 'the same topics');
  t.match(
    whole.body.kv[0],
    { id: 0, cat: 'topics', k: String, v: String, version: Number, create_time: String, update_time: String },
    "records in DTM's KVStore JSON",
  );
  t.strictSame(await dtm.get('scanKV?cat=nothing'), { status: 200, body: { kv: [], next_position: '' } }, 'an empty cat');
  t.match(await dtm.get('scanKV?cat=topics&limit=0'), { status: 400, body: { message: /^\[DTM_BAD_PARAM\] limit/ } }, 'limit 0 → 400');
  t.match(await dtm.get('scanKV?cat=topics&limit=x'), { status: 400, body: { message: /^\[DTM_BAD_PARAM\] limit/ } }, 'limit x → 400');
});
