/**
 * Durability and multi-process behaviour with real coordinator processes: a kill -9 in the middle
 * of a saga loses nothing, and two processes on one Redis never drive one transaction at once.
 */
import t, { type Test } from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { spawnCoordinator, type CoordinatorProcess } from '../fixtures/process.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';
import { gidOf, sagaBody, waitFor } from '../fixtures/app.js';

let redis: TestRedis;
let busi: Busi;
const env = (): Record<string, string> => ({
  REDIS_URL: redis.url,
  STORE_REDIS_PREFIX: `rec${process.pid}`,
  RETRY_INTERVAL: '1',
  TIMEOUT_TO_FAIL: '5',
  REQUEST_TIMEOUT: '1',
  TRANS_CRON_INTERVAL: '0.1',
});

t.before(async () => {
  redis = await startTestRedis();
  busi = await startBusi();
});
t.teardown(async () => {
  await busi.close();
  await redis.stop();
});

async function query(dtm: string, gid: string): Promise<{ transaction: { status: string } | null; branches: { status: string; op: string }[] }> {
  return (await (await fetch(`${dtm}/query?gid=${gid}`)).json()) as never;
}

/**
 * Kills a coordinator while step 2 of a 3-step saga is in flight (once `ready` holds) and checks
 * that a restarted one finishes it: every action ran, nothing was compensated. Returns the number
 * of calls step 1 got.
 */
async function killMidSaga(
  t: Test,
  extraEnv: Record<string, string>,
  ready: (a: CoordinatorProcess, gid: string) => Promise<boolean> | boolean,
): Promise<number> {
  busi.reset();
  const gid = gidOf(t.name);
  busi.delay('S2', 800);
  const a = await spawnCoordinator({ ...env(), ...extraEnv });
  const res = await fetch(`${a.dtm}/submit`, {
    method: 'POST',
    body: JSON.stringify(
      sagaBody(gid, busi.url, [
        ['S1', 'C1'],
        ['S2', 'C2'],
        ['S3', 'C3'],
      ]),
    ),
  });
  t.equal(res.status, 200, 'submitted');
  await waitFor(async () => busi.callsTo('S2').length > 0 && (await ready(a, gid)), 5000, 'step 2 in flight');
  await a.kill9();
  t.equal((await query(`http://127.0.0.1:${a.port}`, gid).catch(() => null)) === null, true, 'the first process is gone');

  const b = await spawnCoordinator(env());
  try {
    await waitFor(async () => (await query(b.dtm, gid)).transaction?.status === 'succeed', 15_000, 'succeed after restart');
    t.ok(busi.callsTo('S1').length >= 1 && busi.callsTo('S2').length >= 1 && busi.callsTo('S3').length >= 1, 'each action ran at least once');
    t.equal(busi.calls.filter((c) => c.query['op'] === 'compensate').length, 0, 'no compensation: nothing failed');
    return busi.callsTo('S1').length;
  } finally {
    await b.stop();
  }
}

t.test('kill -9 mid-saga: a restarted coordinator finishes it; a result recorded before the crash is not re-run', async (t) => {
  // Default write-behind: wait until step 1's result has been written while step 2 runs.
  const s1Calls = await killMidSaga(t, {}, async (a, gid) => (await query(a.dtm, gid)).branches[1]?.status === 'succeed');
  t.equal(s1Calls, 1, 'step 1 was not re-run');
});

t.test('kill -9 mid-saga before step 1 is written: recovery re-calls step 1 (idempotent) and still succeeds', async (t) => {
  const s1Calls = await killMidSaga(t, {}, () => true);
  t.ok(s1Calls === 1 || s1Calls === 2, `step 1 ran once or, if its result was not yet written, twice (${s1Calls})`);
});

t.test('kill -9 mid-saga with UPDATE_BRANCH_SYNC=1: step 1, written before step 2 started, is not re-run', async (t) => {
  const s1Calls = await killMidSaga(t, { UPDATE_BRANCH_SYNC: '1' }, () => true);
  t.equal(s1Calls, 1, 'step 1 was not re-run');
});

t.test('kill -9 mid-compensation: the restarted coordinator finishes the rollback', async (t) => {
  busi.reset();
  const gid = gidOf(t.name);
  busi.next('S2', 'FAILURE');
  busi.delay('C1', 800);
  const a = await spawnCoordinator(env());
  await fetch(`${a.dtm}/submit`, {
    method: 'POST',
    body: JSON.stringify(
      sagaBody(gid, busi.url, [
        ['S1', 'C1'],
        ['S2', 'C2'],
      ]),
    ),
  });
  await waitFor(() => busi.callsTo('C1').length > 0, 5000, 'compensation 1 in flight');
  await a.kill9();
  const b = await spawnCoordinator(env());
  try {
    await waitFor(async () => (await query(b.dtm, gid)).transaction?.status === 'failed', 15_000, 'failed after restart');
    t.ok(busi.callsTo('C2').length >= 1 && busi.callsTo('C1').length >= 1, 'both compensations ran');
    t.equal(busi.callsTo('S2').length, 1, 'the failed action was not retried');
  } finally {
    await b.stop();
  }
});

t.test('66. two processes on one Redis: an ONGOING saga is retried about once per interval, never concurrently', async (t) => {
  busi.reset();
  const gid = gidOf(t.name);
  const [a, b] = await Promise.all([spawnCoordinator(env()), spawnCoordinator(env())]);
  try {
    busi.next('Slow', ...Array<'ONGOING'>(100).fill('ONGOING'));
    busi.delay('Slow', 150);
    await fetch(`${a.dtm}/submit`, { method: 'POST', body: JSON.stringify(sagaBody(gid, busi.url, [['Slow', '']])) });
    await new Promise((r) => setTimeout(r, 4500));
    const calls = busi.callsTo('Slow');
    t.ok(calls.length >= 3 && calls.length <= 7, `about one call per 1 s interval over 4.5 s (got ${calls.length})`);
    for (let i = 1; i < calls.length; i++) {
      t.ok(calls[i]!.at >= calls[i - 1]!.doneAt, `call ${i + 1} started after call ${i} answered`);
    }
  } finally {
    await fetch(`${a.dtm}/forceStop`, { method: 'POST', body: JSON.stringify({ gid }) });
    await Promise.all([a.stop(), b.stop()]);
  }
});

t.test('Redis down: requests get a clear 503 JSON error; after Redis returns, work resumes and nothing is lost', async (t) => {
  busi.reset();
  const a = await spawnCoordinator(env());
  try {
    const before = gidOf(`${t.name}-before`);
    busi.next('Later', 'ERROR');
    await fetch(`${a.dtm}/submit`, { method: 'POST', body: JSON.stringify(sagaBody(before, busi.url, [['Later', '']])) });
    await waitFor(() => busi.callsTo('Later').length === 1, 5000, 'first attempt');
    await redis.server.stop();
    const during = gidOf(`${t.name}-during`);
    const res = await fetch(`${a.dtm}/submit`, { method: 'POST', body: JSON.stringify(sagaBody(during, busi.url, [['X', '']])) });
    t.equal(res.status, 503, '503 while Redis is down');
    t.match(await res.json(), { message: /DTM_STORE_UNAVAILABLE/ }, 'a message that says what is wrong');
    t.equal((await fetch(`http://127.0.0.1:${a.port}/api/ping`)).status, 200, 'the server keeps serving');
    await redis.restart();
    await waitFor(async () => (await query(a.dtm, before)).transaction?.status === 'succeed', 15_000, 'the earlier saga to finish');
    t.pass('the saga scheduled before the outage finished after it');
    t.equal((await query(a.dtm, during)).transaction, null, 'the refused submit left nothing half-written');
    const after = gidOf(`${t.name}-after`);
    const ok = await fetch(`${a.dtm}/submit`, { method: 'POST', body: JSON.stringify({ ...sagaBody(after, busi.url, [['Y', '']]), wait_result: true }) });
    t.equal(ok.status, 200, 'submits work again');
  } finally {
    await a.stop();
  }
});
