/** JSON-RPC (§1.4.14), the alert webhook (§13 item 63) and bounded Prometheus metrics (item 64). */
import t from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, startTestApp, type TestApp } from '../fixtures/app.js';

let dtm: TestApp;
let busi: Busi;
t.before(async () => {
  busi = await startBusi();
  dtm = await startTestApp({ env: { ALERT_WEB_HOOK: `${busi.url}/Alert`, ALERT_RETRY_LIMIT: '3' } });
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
});
t.beforeEach(() => busi.reset());

async function rpc(body: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${dtm.base}/api/json-rpc`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

t.test('json-rpc: newGid returns the gid without dtm_result', async (t) => {
  const r = await rpc({ jsonrpc: '2.0', id: '1', method: 'newGid', params: {} });
  t.match(r, { status: 200, body: { jsonrpc: '2.0', id: '1', error: null, result: { gid: /^[2-9A-HJ-NP-Za-km-z]{22}$/ } } }, 'a gid');
  t.notOk('dtm_result' in r.body.result, 'no dtm_result');
});

t.test('json-rpc: submit runs a saga through the same handler; a repeat on a finished gid is -32901', async (t) => {
  const gid = gidOf(t.name);
  const r = await rpc({ jsonrpc: '2.0', id: 'a', method: 'submit', params: sagaBody(gid, busi.url, [['R1', '']], { wait_result: true }) });
  t.strictSame(r, { status: 200, body: { jsonrpc: '2.0', id: 'a', error: null, result: null } }, 'success envelope');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'the saga ran');
  const again = await rpc({ jsonrpc: '2.0', id: 'b', method: 'submit', params: sagaBody(gid, busi.url, [['R1', '']]) });
  t.match(again.body, { id: 'b', error: { code: -32901, message: /cannot sumbmit/ }, result: null }, 'FAILURE code');
});

t.test('json-rpc: parse error, invalid request, unknown method, other errors', async (t) => {
  t.match((await rpc('{oops')).body, { error: { code: -32700 } }, 'parse error');
  t.match((await rpc({ jsonrpc: '1.0', id: '1', method: 'newGid' })).body, { error: { code: -32600 } }, 'wrong version');
  t.match((await rpc({ jsonrpc: '2.0', id: '', method: 'newGid' })).body, { error: { code: -32600 } }, 'empty id');
  t.match((await rpc({ jsonrpc: '2.0', id: '1', method: 'query' })).body, { error: { code: -32601 } }, 'unknown method');
  t.match(
    (await rpc({ jsonrpc: '2.0', id: '1', method: 'abort', params: { gid: 'no-such-rpc' } })).body,
    { error: { code: -32603, message: 'no TransGlobal with gid: no-such-rpc found' } },
    'other errors are -32603',
  );
});

t.test('63. alert webhook: after the 3rd consecutive failure it receives gid, status, branch, error, retry_count', async (t) => {
  const gid = gidOf(t.name);
  busi.next('Flaky', ...Array<'ERROR'>(6).fill('ERROR'));
  await dtm.post('submit', sagaBody(gid, busi.url, [['Flaky', '']], { wait_result: true }));
  for (let i = 0; i < 2; i++) {
    dtm.clock.advance((await dtm.query(gid)).transaction.next_cron_interval * 1000 + 1);
    await dtm.app.poller.tick();
  }
  for (let i = 0; i < 100 && busi.callsTo('Alert').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const alerts = busi.callsTo('Alert');
  t.equal(alerts.length, 1, 'one alert: intervals 20, 40, 80 are retry counts 1, 2, 3');
  t.equal(alerts[0]!.method, 'POST', 'POST');
  t.match(JSON.parse(alerts[0]!.body), { gid, status: 'submitted', branch: `${busi.url}/Flaky`, error: /boom/, retry_count: 3 }, "DTM's alert body");
  await dtm.post('forceStop', { gid });
});

t.test("64. metrics: a scrape parses, carries DTM's names, and labels stay bounded after a mixed load", async (t) => {
  for (let i = 0; i < 20; i++) {
    const gid = gidOf(`${t.name}-${i}`);
    if (i % 4 === 0) busi.next('M1', 'FAILURE');
    await dtm.post(
      'submit',
      sagaBody(
        gid,
        busi.url,
        [
          ['M1', 'MC1'],
          ['M2', 'MC2'],
        ],
        { wait_result: true },
      ),
    );
    await dtm.get(`query?gid=${gid}&x=${i}`);
  }
  await dtm.get('all?limit=3');
  await dtm.post('submit', '{bad');
  await fetch(`${dtm.base}/no/such/${gidOf('x')}`);
  const res = await fetch(`${dtm.base}/api/metrics`);
  t.equal(res.status, 200, '200');
  const text = await res.text();
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    t.ok(m, `exposition line parses: ${line.slice(0, 80)}`);
    if (m === null) continue;
    const name = m[1]!.replace(/_(bucket|sum|count)$/, '');
    series.set(name, (series.get(name) ?? new Set()).add((m[2] ?? '').replace(/,?le="[^"]*"/, '')));
  }
  for (const name of [
    'dtm_server_process_total',
    'dtm_server_response_duration',
    'dtm_transaction_process_total',
    'dtm_branch_process_total',
    'dtm_redis_script_duration_seconds',
    'dtm_redis_script_replies_total',
    'dtm_branch_call_duration_seconds',
    'dtm_branch_calls_in_flight',
    'dtm_transactions_unfinished',
    'dtm_oldest_due_age_seconds',
    'dtm_server_info',
    'dtm_coordinator_build_info',
    'dtm_branch_retries_total',
    'dtm_requests_shed_total',
    'dtm_alert_webhook_total',
    'dtm_redis_errors_total',
    'dtm_poller_claimed_total',
    'process_cpu_user_seconds_total',
  ]) {
    t.ok(series.has(name) || text.includes(`# TYPE ${name} `), `${name} is exported`);
  }
  t.match(text, /dtm_transaction_process_total\{model="saga",status="ok"\} \d+/, 'saga rounds counted ok');
  t.match(text, /dtm_branch_process_total\{[^}]*branchtype="action"[^}]*\}/, 'branch calls by type');
  for (const [name, labels] of series) {
    if (name.startsWith('dtm_')) t.ok(labels.size <= 60, `${name}: ${labels.size} label combinations (bounded)`);
    for (const l of labels) t.notOk(/\?|gid|http:/.test(l.replace(/le="[^"]*"/, '')), `${name}${l}: no query strings, gids or URLs in labels`);
  }
});

t.test('metrics: a claim whose holder never rescheduled counts as an expired lease', async (t) => {
  const gid = gidOf(t.name);
  busi.next('Lease', 'ONGOING');
  await dtm.post('submit', sagaBody(gid, busi.url, [['Lease', '']], { wait_result: true }));
  const count = async (): Promise<number> =>
    Number(/dtm_lease_expiries_total\{model="saga"\} (\d+)/.exec(await (await fetch(`${dtm.base}/api/metrics`)).text())?.[1] ?? '0');
  const before = await count();
  dtm.clock.advance(10_001);
  const bucket = dtm.app.store.keys.bucketOf(gid);
  t.strictSame(await dtm.app.store.claimDue(bucket, 10_000, 10), [gid], 'a holder claims it, then dies without a round');
  dtm.clock.advance(10_001);
  await dtm.app.poller.tick();
  t.equal(await count(), before + 1, 'the next claim counted the expired lease');
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'and finished the saga');
});
