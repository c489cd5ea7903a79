/**
 * The deployment kit cannot drift from the metrics (issue 10 item 6): every metric the Grafana
 * dashboard and the Prometheus alert rules name exists in a live /api/metrics scrape after a
 * little traffic, with the labels and label values they match and group on, and every
 * expression parses with Prometheus' own PromQL grammar.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { gidOf, sagaBody, startTestApp, type TestApp } from '../fixtures/app.js';
import { checkExpr, dashboardExprs, DEPLOY, parseExposition, ruleExprs, type CheckOptions, type Exposition } from '../fixtures/promql.js';

let dtm: TestApp;
let busi: Busi;
let exposition: Exposition;

/** The scrape job's name in prometheus.yml: `up{job=…}` must name it. */
const job = (parseYaml(readFileSync(`${DEPLOY}prometheus/prometheus.yml`, 'utf8')) as { scrape_configs: { job_name: string }[] }).scrape_configs[0]!.job_name;
const options: CheckOptions = { synthetic: { up: ['job', 'instance'] }, targetLabels: ['job', 'instance'] };

t.before(async () => {
  busi = await startBusi();
  dtm = await startTestApp({ env: { ALERT_WEB_HOOK: `${busi.url}/Alert`, ALERT_RETRY_LIMIT: '1', MAX_BODY_BYTES: '4096' } });
  // A little of everything the dashboard shows: a success, a rollback, a retried branch (with
  // its alert and a claim by the poller), a shed request, a compare-and-set conflict.
  await dtm.post(
    'submit',
    sagaBody(
      gidOf('ok'),
      busi.url,
      [
        ['A', 'AR'],
        ['B', 'BR'],
      ],
      { wait_result: true },
    ),
  );
  busi.next('B', 'FAILURE');
  await dtm.post(
    'submit',
    sagaBody(
      gidOf('rollback'),
      busi.url,
      [
        ['A', 'AR'],
        ['B', 'BR'],
      ],
      { wait_result: true },
    ),
  );
  busi.next('C', 'ERROR');
  const retried = gidOf('retried');
  await dtm.post('submit', sagaBody(retried, busi.url, [['C', '']], { wait_result: true }));
  dtm.clock.advance((await dtm.query(retried)).transaction.next_cron_interval * 1000 + 1);
  await dtm.app.poller.tick();
  await dtm.post('submit', sagaBody(gidOf('big'), busi.url, [['x'.repeat(5000), '']]));
  const msg = gidOf('stale');
  await dtm.post('prepare', { gid: msg, trans_type: 'msg', steps: [{ action: `${busi.url}/M` }], payloads: ['{}'] });
  await dtm.post('abort', { gid: msg, trans_type: 'msg' });
  await dtm.post('abort', { gid: msg, trans_type: 'msg' });
  // A failed read, for dtm_redis_errors_total.
  const broken = gidOf('broken');
  await dtm.redis.client.set(dtm.app.store.keys.trans(broken), 'not a hash');
  await dtm.get(`query?gid=${broken}`);
  for (let i = 0; i < 100 && busi.callsTo('Alert').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  exposition = parseExposition(await (await fetch(`${dtm.base}/api/metrics`)).text());
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
});

t.test('the dashboard and the alert rules have expressions to check', async (t) => {
  t.ok(dashboardExprs().length >= 20, `the dashboard has ${dashboardExprs().length} queries`);
  t.ok(ruleExprs().length >= 8, `the rules file has ${ruleExprs().length} rules`);
});

t.test('every dashboard query names metrics, labels and values that a live scrape has', async (t) => {
  for (const e of dashboardExprs()) t.strictSame(checkExpr(e, exposition, options), [], `${e.where}: ${e.expr}`);
});

t.test('every alert rule names metrics, labels and values that a live scrape has', async (t) => {
  for (const e of ruleExprs()) t.strictSame(checkExpr(e, exposition, options), [], `${e.where}: ${e.expr}`);
  const up = ruleExprs().find((e) => e.expr.includes('up{'));
  t.match(up?.expr, `job="${job}"`, `the coordinator-down rule names the scrape job (${job})`);
});

t.test('the check fails on drift: unknown metrics, labels, values, groupings and bad syntax', async (t) => {
  const check = (expr: string): string[] => checkExpr({ where: 'x', expr }, exposition, options);
  t.match(check('sum(rate(dtm_no_such_total[5m]))'), [/metric dtm_no_such_total is not in the scrape/], 'unknown metric');
  t.match(check('dtm_redis_errors_total{script="getTrans"}'), [/has no label script/], 'a renamed label');
  t.match(check('dtm_transaction_process_total{status="failed"}'), [/status="failed"/], 'a value no series has');
  t.match(check('sum by (bucket) (dtm_transactions_unfinished)'), [/groups by bucket/], 'a grouping label nothing carries');
  t.match(check('sum(rate(dtm_server_process_total[5m])'), [/syntax error/], 'unbalanced parentheses');
  t.match(check('rate(dtm_server_process_total[$__range_typo])'), [/unknown template variable/], 'an unknown Grafana variable');
  t.match(check('dtm_due_transactions'), [/not in the scrape/], 'the per-bucket gauge is gone');
  t.strictSame(
    check('histogram_quantile(0.99, sum by (le, script) (rate(dtm_redis_script_duration_seconds_bucket[$__rate_interval])))'),
    [],
    'a histogram by its buckets',
  );
  t.strictSame(check('sum by (instance) (up{job="x"})'), [], "Prometheus' own up and target labels");
});
