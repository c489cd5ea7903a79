/**
 * What /api/metrics counts (issue 10 item 5): DTM's failure rule for processing rounds, the info
 * gauges, the cluster-wide backlog gauges (read once per scrape), branch retries, shed requests,
 * alert webhook sends and failed Redis reads.
 */
import t from 'tap';
import { createMetrics } from '../../src/metrics.js';
import type { Backlog } from '../../src/store/store.js';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, startTestApp, waitFor, type TestApp } from '../fixtures/app.js';

let dtm: TestApp;
let busi: Busi;
t.before(async () => {
  busi = await startBusi();
  dtm = await startTestApp({
    env: { ALERT_WEB_HOOK: `${busi.url}/Alert`, ALERT_RETRY_LIMIT: '1', MAX_BODY_BYTES: '4096', RETRY_INTERVAL: '10' },
  });
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
});
t.beforeEach(() => busi.reset());

/** One scrape as a map from `name{labels}` to value. */
async function scrape(base = dtm.base): Promise<Map<string, number>> {
  const res = await fetch(`${base}/api/metrics`);
  const text = await res.text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
const value = (m: Map<string, number>, series: string): number => m.get(series) ?? 0;
/** Scrapes until `series` has grown by `by` from `before` (an alert is counted once its answer is read). */
async function grown(before: Map<string, number>, series: string, by: number): Promise<Map<string, number>> {
  let m = before;
  await waitFor(async () => value((m = await scrape()), series) - value(before, series) >= by, 5000, `${series} to grow by ${by}`);
  return m;
}

t.test('a wait_result submit whose branch fails counts status="fail", as DTM does; a success counts ok', async (t) => {
  const before = await scrape();
  busi.next('F1', 'FAILURE');
  const failed = await dtm.post('submit', sagaBody(gidOf(t.name), busi.url, [['F1', 'F1R']], { wait_result: true }));
  t.equal(failed.status, 409, 'the waiting caller is told FAILURE');
  const afterFail = await scrape();
  const fail = 'dtm_transaction_process_total{model="saga",status="fail"}';
  const ok = 'dtm_transaction_process_total{model="saga",status="ok"}';
  t.equal(value(afterFail, fail) - value(before, fail), 1, 'the rolled-back round counts fail');
  t.equal(value(afterFail, ok) - value(before, ok), 0, 'and not ok');

  t.equal((await dtm.post('submit', sagaBody(gidOf(`${t.name}-ok`), busi.url, [['S1', '']], { wait_result: true }))).status, 200, 'a success');
  const afterOk = await scrape();
  t.equal(value(afterOk, ok) - value(afterFail, ok), 1, 'a succeeding round counts ok');

  // A branch that answers ONGOING leaves the saga submitted: DTM fails that round too (409).
  busi.next('O1', 'ONGOING');
  const gid = gidOf(`${t.name}-ongoing`);
  t.equal((await dtm.post('submit', sagaBody(gid, busi.url, [['O1', '']], { wait_result: true }))).status, 409, 'ongoing: 409');
  t.equal(value(await scrape(), fail) - value(afterOk, fail), 1, 'a round that left the saga unfinished counts fail');
  dtm.clock.advance(11_000);
  await dtm.app.poller.tick();
  t.equal((await dtm.query(gid)).transaction.status, 'succeed', 'the cron round finished it');
});

t.test('an abort that rolls back counts ok: only a submitted transaction must succeed', async (t) => {
  const gid = gidOf(t.name);
  t.equal((await dtm.post('prepare', { gid, trans_type: 'tcc', wait_result: true })).status, 200, 'prepared');
  const before = await scrape();
  t.equal((await dtm.post('abort', { gid, trans_type: 'tcc' })).status, 200, 'aborted');
  const after = await scrape();
  t.equal(
    value(after, 'dtm_transaction_process_total{model="tcc",status="ok"}') - value(before, 'dtm_transaction_process_total{model="tcc",status="ok"}'),
    1,
    'ok',
  );
  t.equal((await dtm.query(gid)).transaction.status, 'failed', 'rolled back');
});

t.test("dtm_server_info and the build info carry DTM's labels and the package version", async (t) => {
  const m = await scrape();
  t.equal(m.get('dtm_server_info{gin_version="none",grpc_version="none"}'), 1, 'dtm_server_info');
  const { version } = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  t.equal(m.get(`dtm_coordinator_build_info{version="${version}",node_version="${process.version}"}`), 1, 'build info with the version');
});

t.test('unfinished transactions by status and the oldest due age come from the maintained counts', async (t) => {
  const base = await scrape();
  const unfinished = (m: Map<string, number>, s: string): number =>
    value(m, `dtm_transactions_unfinished{status="${s}"}`) - value(base, `dtm_transactions_unfinished{status="${s}"}`);
  const gids = [gidOf(`${t.name}-a`), gidOf(`${t.name}-b`)];
  for (const gid of gids) await dtm.post('prepare', { gid, trans_type: 'msg', steps: [{ action: `${busi.url}/M` }], payloads: ['{}'] });
  busi.next('Err', 'ERROR');
  const failing = gidOf(`${t.name}-err`);
  await dtm.post('submit', sagaBody(failing, busi.url, [['Err', '']], { wait_result: true }));
  // The backlog is read at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  const m = await scrape();
  t.equal(unfinished(m, 'prepared'), 2, 'two prepared');
  t.equal(unfinished(m, 'submitted'), 1, 'one submitted, waiting for its retry');
  t.equal(m.get('dtm_oldest_due_age_seconds'), 0, 'nothing is overdue yet');

  // Nobody polls: 5 s after the first of them fell due (the msgs' check-back), it has waited 5 s.
  const due = await Promise.all([failing, ...gids].map(async (gid) => new Date((await dtm.query(gid)).transaction.next_cron_time as string).getTime()));
  dtm.clock.set(Math.min(...due) + 5000);
  await new Promise((r) => setTimeout(r, 1100));
  const late = await scrape();
  t.ok(Math.abs(late.get('dtm_oldest_due_age_seconds')! - 5) < 1.5, `the oldest due transaction waited ~5 s (${late.get('dtm_oldest_due_age_seconds')})`);
  await dtm.app.poller.tick();
  for (const gid of [failing, ...gids]) await dtm.post('forceStop', { gid });
});

t.test('the backlog is read once for concurrent scrapes, and again after a second', async (t) => {
  const metrics = createMetrics({ version: 'x' });
  let reads = 0;
  const backlog: Backlog = { byStatus: { prepared: 3, submitted: 2, aborting: 1 }, earliestDue: 1000 };
  metrics.watchBacklog(
    async () => {
      reads++;
      await new Promise((r) => setTimeout(r, 20));
      return backlog;
    },
    { now: () => 4000 },
  );
  const texts = await Promise.all([metrics.render(), metrics.render(), metrics.render()]);
  t.equal(reads, 1, 'three concurrent scrapes, one read');
  for (const text of texts) {
    t.match(text, /dtm_transactions_unfinished\{status="aborting"\} 1/, 'aborting');
    t.match(text, /dtm_oldest_due_age_seconds 3\n/, 'age = now − earliest due');
  }
  await new Promise((r) => setTimeout(r, 1050));
  await metrics.render();
  t.equal(reads, 2, 'read again once the second is over');
  t.throws(() => metrics.watchBacklog(async () => backlog, { now: () => 0 }), /registered already/, 'registered once');
});

t.test('a retried branch, and the alert it raises, are counted; a failing webhook counts failed', async (t) => {
  const before = await scrape();
  busi.next('Flaky', 'ERROR', 'ERROR');
  const gid = gidOf(t.name);
  await dtm.post('submit', sagaBody(gid, busi.url, [['Flaky', '']], { wait_result: true }));
  dtm.clock.advance((await dtm.query(gid)).transaction.next_cron_interval * 1000 + 1);
  await dtm.app.poller.tick();
  const after = await grown(before, 'dtm_alert_webhook_total{result="sent"}', 2);
  t.equal(busi.callsTo('Alert').length, 2, 'two alerts (retry counts 1 and 2, limit 1)');
  t.equal(value(after, 'dtm_branch_retries_total{model="saga"}') - value(before, 'dtm_branch_retries_total{model="saga"}'), 2, 'two retries scheduled');
  t.equal(value(after, 'dtm_alert_webhook_total{result="sent"}') - value(before, 'dtm_alert_webhook_total{result="sent"}'), 2, 'two alerts sent');
  await dtm.post('forceStop', { gid });

  busi.next('Alert', { status: 500, body: '{}' });
  busi.next('Flaky', 'ERROR');
  const gid2 = gidOf(`${t.name}-2`);
  await dtm.post('submit', sagaBody(gid2, busi.url, [['Flaky', '']], { wait_result: true }));
  const failed = await grown(after, 'dtm_alert_webhook_total{result="failed"}', 1);
  t.equal(
    value(failed, 'dtm_alert_webhook_total{result="failed"}') - value(after, 'dtm_alert_webhook_total{result="failed"}'),
    1,
    'a 500 from the hook counts failed',
  );
  await dtm.post('forceStop', { gid: gid2 });
});

t.test('a body over MAX_BODY_BYTES is counted as shed (413)', async (t) => {
  const before = await scrape();
  const r = await dtm.post('submit', sagaBody(gidOf(t.name), busi.url, [['x'.repeat(5000), '']]));
  t.equal(r.status, 413, '413');
  const after = await scrape();
  t.equal(value(after, 'dtm_requests_shed_total{reason="too_large"}') - value(before, 'dtm_requests_shed_total{reason="too_large"}'), 1, 'too_large');
  t.equal(after.get('dtm_requests_shed_total{reason="overloaded"}'), value(before, 'dtm_requests_shed_total{reason="overloaded"}'), 'overloaded starts at 0');
});

t.test('requests over MAX_INFLIGHT_REQUESTS are counted as shed (503)', async (t) => {
  const busy = await startTestApp({ redis: dtm.redis, env: { MAX_INFLIGHT_REQUESTS: '1', STORE_REDIS_PREFIX: `inflight${process.pid}` } });
  t.teardown(() => busy.stop());
  busi.delay('Slow', 1000);
  const slow = busy.post('submit', sagaBody(gidOf(t.name), busi.url, [['Slow', '']], { wait_result: true }));
  // Once the branch is called, the submit is in flight until the branch answers.
  await waitFor(() => busi.callsTo('Slow').length === 1, 5000, 'the slow branch to be called');
  t.equal((await busy.get('newGid')).status, 503, 'a second request while one is in flight: 503');
  t.equal((await slow).status, 200, 'the first one completes');
  t.equal((await scrape(busy.base)).get('dtm_requests_shed_total{reason="overloaded"}'), 1, 'overloaded counted');
});

t.test('dtm_redis_errors_total counts failed reads, not only scripts', async (t) => {
  const gid = gidOf(t.name);
  await dtm.redis.client.set(dtm.app.store.keys.trans(gid), 'not a hash');
  const before = await scrape();
  t.equal((await dtm.get(`query?gid=${gid}`)).status, 500, 'the read fails');
  const after = await scrape();
  t.equal(value(after, 'dtm_redis_errors_total{op="getTrans"}') - value(before, 'dtm_redis_errors_total{op="getTrans"}'), 1, 'a failed getTrans');
  t.equal(before.get('dtm_redis_errors_total{op="kvGet"}'), 0, 'every op starts at 0');
  await dtm.redis.client.del(dtm.app.store.keys.trans(gid));
});
