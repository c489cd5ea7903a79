/**
 * The coordinator on a real Redis Cluster (3 masters, 3 replicas), through DTM's HTTP API: sagas,
 * messages, TCC, the poller's claims, topics and the `all` listing, with the Redis state of every
 * master checked behind them. 64 buckets spread each kind of key over all three masters.
 */
import t from 'tap';
import { startBusi, type Busi, type BusiCall } from '../fixtures/busi.js';
import { gidOf, sagaBody, type TestCoordinator } from '../fixtures/app.js';
import { keysOn, startClusterCoordinator, startTestCluster, type ClusterNode, type TestCluster } from '../fixtures/cluster.js';

let cluster: TestCluster;
let busi: Busi;
let dtm: TestCoordinator;

t.before(async () => {
  cluster = await startTestCluster();
  busi = await startBusi();
  dtm = await startClusterCoordinator(cluster, { RETRY_INTERVAL: '10', TIMEOUT_TO_FAIL: '35' });
});
t.teardown(async () => {
  await dtm?.stop();
  await busi?.close();
  await cluster?.stop();
});

const SUCCESS = { status: 200, body: { dtm_result: 'SUCCESS' } };
const callsOf = (gid: string): BusiCall[] => busi.calls.filter((c) => c.query['gid'] === gid);
const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);
const q = encodeURIComponent;

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}

/** The gids whose transaction HASH is stored on `node`. */
async function gidsOn(node: ClusterNode): Promise<string[]> {
  const keys = await keysOn(node, `{${dtm.app.store.keys.prefix}:*}:g:*`);
  return keys.map((k) => k.slice(k.indexOf('}:g:') + 4));
}

/** Each master with the buckets whose keys it holds now. */
async function bucketsByMaster(): Promise<Map<ClusterNode, number[]>> {
  const keys = dtm.app.store.keys;
  const out = new Map<ClusterNode, number[]>();
  for (let b = 0; b < keys.buckets; b++) {
    const m = await cluster.masterOfKey(keys.due(b));
    out.set(m, [...(out.get(m) ?? []), b]);
  }
  return out;
}

t.test('sagas over many gids: each ends succeed or failed as its branches say, and every master holds some', async (t) => {
  const gids = Array.from({ length: 60 }, (_, i) => gidOf(`cluster saga ${i}`));
  const rollback = new Set(gids.filter((_, i) => i % 3 === 2));
  busi.next('CsIn-fail', ...Array<'FAILURE'>(rollback.size).fill('FAILURE'));
  const answers = await inBatches(gids, 10, (gid) =>
    dtm.post(
      'submit',
      sagaBody(
        gid,
        busi.url,
        [
          ['CsOut', 'CsOutRevert'],
          [rollback.has(gid) ? 'CsIn-fail' : 'CsIn', 'CsInRevert'],
        ],
        { wait_result: true },
      ),
    ),
  );
  t.strictSame(
    answers.map((a) => a.status),
    gids.map((g) => (rollback.has(g) ? 409 : 200)),
    'wait_result: 200 for each saga that succeeded, 409 for each rolled back',
  );

  for (const gid of gids) {
    const r = await dtm.query(gid);
    if (rollback.has(gid)) {
      t.equal(r.transaction?.status, 'failed', `${gid}: failed`);
      t.strictSame(statuses(r), ['succeed', 'succeed', 'succeed', 'failed'], `${gid}: both compensated, action 2 failed`);
      t.strictSame(
        callsOf(gid).map((c) => c.path),
        ['CsOut', 'CsIn-fail', 'CsInRevert', 'CsOutRevert'],
        `${gid}: actions, then compensations in reverse`,
      );
    } else {
      t.equal(r.transaction?.status, 'succeed', `${gid}: succeed`);
      t.strictSame(statuses(r), ['prepared', 'succeed', 'prepared', 'succeed'], `${gid}: both actions succeeded`);
      t.strictSame(
        callsOf(gid).map((c) => c.path),
        ['CsOut', 'CsIn'],
        `${gid}: each action once`,
      );
    }
  }

  const masters = await cluster.masters();
  t.equal(masters.length, 3, 'three masters');
  const stored = new Map<string, ClusterNode>();
  for (const m of masters) {
    const here = (await gidsOn(m)).filter((g) => gids.includes(g));
    t.ok(here.length > 0, `master ${m.address} holds ${here.length} of the sagas`);
    for (const g of here) stored.set(g, m);
  }
  t.equal(stored.size, gids.length, 'every saga is stored, on exactly one master');
  for (const gid of gids.slice(0, 5)) {
    t.equal(stored.get(gid), await cluster.masterOfKey(dtm.app.store.keys.trans(gid)), `${gid} is on the master of its bucket's slot`);
  }
});

t.test('msg: prepare then submit runs the actions; a prepared msg past its timeout is checked back and committed or failed', async (t) => {
  const body = (gid: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    gid,
    trans_type: 'msg',
    steps: [{ action: `${busi.url}/CmOut` }, { action: `${busi.url}/CmIn` }],
    payloads: ['{"amount":30}', '{"amount":30}'],
    query_prepared: `${busi.url}/CmQuery`,
    ...extra,
  });
  const submitted = gidOf('cluster msg submitted');
  t.strictSame(await dtm.post('prepare', body(submitted)), SUCCESS, 'prepare → 200');
  t.equal((await dtm.query(submitted)).transaction.status, 'prepared', 'stored prepared');
  t.strictSame(await dtm.post('submit', body(submitted)), SUCCESS, 'submit → 200');
  const done = await dtm.waitStatus(submitted, 'succeed');
  t.strictSame(statuses(done), ['succeed', 'succeed'], 'both actions succeeded');
  t.strictSame(
    callsOf(submitted).map((c) => c.path),
    ['CmOut', 'CmIn'],
    'no check-back: the actions in order',
  );

  const committed = gidOf('cluster msg check-back commits');
  const aborted = gidOf('cluster msg check-back fails');
  t.strictSame(await dtm.post('prepare', body(committed, { query_prepared: `${busi.url}/CmQueryOk` })), SUCCESS, 'prepare the one to commit');
  t.strictSame(await dtm.post('prepare', body(aborted, { query_prepared: `${busi.url}/CmQueryNo` })), SUCCESS, 'prepare the one to fail');
  busi.next('CmQueryNo', 'FAILURE');
  t.equal(await dtm.app.poller.tick(), 0, 'nothing is due before the timeout');
  dtm.clock.advance(36_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(committed)).transaction.status, 'succeed', 'check-back SUCCESS: submitted and its actions run');
  t.strictSame(
    callsOf(committed).map((c) => [c.method, c.path, c.query['op']]),
    [
      ['GET', 'CmQueryOk', 'msg'],
      ['POST', 'CmOut', 'action'],
      ['POST', 'CmIn', 'action'],
    ],
    'the check-back, then the actions',
  );
  t.equal((await dtm.query(aborted)).transaction.status, 'failed', 'check-back FAILURE: failed');
  t.strictSame(
    callsOf(aborted).map((c) => c.path),
    ['CmQueryNo'],
    'only the check-back ran',
  );
});

t.test('tcc: prepare, register two branches, submit confirms both; abort cancels them', async (t) => {
  const register = (gid: string, id: string): Promise<{ status: number; body: any }> =>
    dtm.post('registerBranch', {
      gid,
      trans_type: 'tcc',
      branch_id: id,
      data: `{"branch":"${id}"}`,
      confirm: `${busi.url}/CtConfirm`,
      cancel: `${busi.url}/CtCancel`,
    });
  const ok = gidOf('cluster tcc confirm');
  t.strictSame(await dtm.post('prepare', { gid: ok, trans_type: 'tcc' }), SUCCESS, 'prepare');
  t.strictSame(await register(ok, '01'), SUCCESS, 'register 01');
  t.strictSame(await register(ok, '02'), SUCCESS, 'register 02');
  t.strictSame(await dtm.post('submit', { gid: ok, trans_type: 'tcc', wait_result: true }), SUCCESS, 'submit');
  t.strictSame(
    callsOf(ok).map((c) => [c.path, c.query['branch_id']]),
    [
      ['CtConfirm', '02'],
      ['CtConfirm', '01'],
    ],
    'confirm 02 then 01',
  );
  const qOk = await dtm.query(ok);
  t.equal(qOk.transaction.status, 'succeed', 'succeed');
  t.strictSame(statuses(qOk), ['prepared', 'succeed', 'prepared', 'succeed'], 'both confirms succeeded');

  const no = gidOf('cluster tcc cancel');
  t.strictSame(await dtm.post('prepare', { gid: no, trans_type: 'tcc', wait_result: true }), SUCCESS, 'prepare');
  await register(no, '01');
  await register(no, '02');
  t.strictSame(await dtm.post('abort', { gid: no, trans_type: 'tcc', rollback_reason: 'no stock' }), SUCCESS, 'abort');
  t.strictSame(
    callsOf(no).map((c) => [c.path, c.query['branch_id']]),
    [
      ['CtCancel', '02'],
      ['CtCancel', '01'],
    ],
    'cancel 02 then 01',
  );
  t.match((await dtm.query(no)).transaction, { status: 'failed', rollback_reason: 'no stock' }, 'failed with the reason');
});

t.test('poller: two coordinators claim the due transactions of every master; each is driven exactly once', async (t) => {
  const other = await startClusterCoordinator(cluster, { RETRY_INTERVAL: '10', TIMEOUT_TO_FAIL: '35' });
  t.teardown(() => other.stop());
  const keys = dtm.app.store.keys;
  const gids = Array.from({ length: 48 }, (_, i) => gidOf(`cluster due ${i}`));
  await inBatches(gids, 12, async (gid) => {
    const r = await dtm.post('prepare', {
      gid,
      trans_type: 'msg',
      steps: [{ action: `${busi.url}/CpAction` }],
      payloads: ['{}'],
      query_prepared: `${busi.url}/CpQuery`,
    });
    if (r.status !== 200) throw new Error(`prepare ${gid}: ${JSON.stringify(r)}`);
  });

  // Before the claims: the schedules on every master hold some of them.
  const due = new Set(gids);
  for (const [master, buckets] of await bucketsByMaster()) {
    let here = 0;
    for (const b of buckets) here += (await master.admin.zrange(keys.due(b), '0', '-1')).filter((g) => due.has(g)).length;
    t.ok(here > 0, `master ${master.address} schedules ${here} of them in its ${buckets.length} buckets`);
  }

  dtm.clock.advance(36_000);
  other.clock.set(dtm.clock.now());
  const [a, b] = await Promise.all([dtm.app.poller.tick(), other.app.poller.tick()]);
  t.equal(a + b, gids.length, `the two ticks claimed ${a} + ${b}: each transaction once`);
  for (const gid of gids) {
    t.equal((await dtm.query(gid)).transaction.status, 'succeed', `${gid}: succeed`);
    t.strictSame(
      callsOf(gid).map((c) => c.path),
      ['CpQuery', 'CpAction'],
      `${gid}: checked back and its action called once`,
    );
  }
  const [again, againOther] = await Promise.all([dtm.app.poller.tick(), other.app.poller.tick()]);
  t.equal(again + againOther, 0, 'nothing is left to claim');
});

t.test('topics on the cluster: subscribe, msg to topic://, unsubscribe, queryKV and scanKV', async (t) => {
  const topic = `ctopic-${process.pid}`;
  t.strictSame(await dtm.get(`subscribe?topic=${q(topic)}&url=${q(`${busi.url}/CkA`)}&remark=a`), SUCCESS, 'subscribe A');
  t.strictSame(await dtm.get(`subscribe?topic=${q(topic)}&url=${q(`${busi.url}/CkB`)}&remark=b`), SUCCESS, 'subscribe B');
  for (let i = 0; i < 4; i++) await dtm.get(`subscribe?topic=${q(`${topic}-scan-${i}`)}&url=${q(`${busi.url}/CkScan`)}`);

  const gid = gidOf('cluster topic msg');
  t.strictSame(
    await dtm.post('submit', { gid, trans_type: 'msg', steps: [{ action: `topic://${topic}` }], payloads: ['{"n":1}'] }),
    SUCCESS,
    'msg to the topic',
  );
  const done = await dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    done.branches.map((b: { branch_id: string; url: string }) => [b.branch_id, b.url]),
    [
      ['01-01', `${busi.url}/CkA`],
      ['01-02', `${busi.url}/CkB`],
    ],
    'one branch per subscriber',
  );
  t.strictSame(
    callsOf(gid)
      .map((c) => c.path)
      .sort(),
    ['CkA', 'CkB'],
    'each subscriber called once',
  );

  t.strictSame(await dtm.get(`unsubscribe?topic=${q(topic)}&url=${q(`${busi.url}/CkA`)}`), SUCCESS, 'unsubscribe A');
  const kv = await dtm.get(`queryKV?cat=topics&key=${q(topic)}`);
  t.match(kv.body.kv, [{ k: topic, version: 3 }], 'the topic record, at version 3 after two subscribes and an unsubscribe');
  t.strictSame(
    (JSON.parse(kv.body.kv[0].v as string) as { url: string }[]).map((s) => s.url),
    [`${busi.url}/CkB`],
    'only B is left',
  );

  const seen: string[] = [];
  let position = '';
  for (let pages = 0; pages < 50; pages++) {
    const r = await dtm.get(`scanKV?cat=topics&limit=2&position=${q(position)}`);
    seen.push(...r.body.kv.map((x: { k: string }) => x.k));
    position = r.body.next_position;
    if (position === '') break;
  }
  t.equal(position, '', 'scanKV pages to the end');
  t.strictSame(seen, [topic, ...[0, 1, 2, 3].map((i) => `${topic}-scan-${i}`)], 'every topic once, in key order');

  // The KV records and their index share one hash tag: one master holds them all.
  const kvMaster = await cluster.masterOfKey(`{${dtm.app.store.keys.prefix}:kv}`);
  t.equal((await keysOn(kvMaster, `{${dtm.app.store.keys.prefix}:kv}:*`)).length, 6, 'five records and the index, on the master of the kv slot');
});

t.test('all: paging with a small limit across the buckets of three masters returns every stored transaction exactly once', async (t) => {
  const stored: string[] = [];
  for (const m of await cluster.masters()) stored.push(...(await gidsOn(m)));
  t.ok(stored.length >= 60, `${stored.length} transactions stored across the masters`);
  const seen: string[] = [];
  let position = '';
  let pages = 0;
  do {
    const r = await dtm.get(`all?limit=7&position=${q(position)}`);
    t.equal(r.status, 200, `page ${pages}`);
    t.ok(r.body.transactions.length <= 7, `page ${pages} holds at most 7`);
    seen.push(...r.body.transactions.map((x: { gid: string }) => x.gid));
    position = r.body.next_position;
    pages++;
  } while (position !== '' && pages < 500);
  t.equal(position, '', 'the listing ends');
  t.equal(seen.length, new Set(seen).size, 'no transaction twice');
  t.strictSame([...seen].sort(), [...stored].sort(), 'exactly the transactions the masters hold');
});
