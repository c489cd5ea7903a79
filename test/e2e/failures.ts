/**
 * Failures are visible: a failing branch logs one warn line per failed call (rate-limited), and
 * `query` shows its last error, its attempts and the time of its last attempt, and the
 * transaction's retries; empty fields are omitted as DTM omits them.
 */
import t from 'tap';
import { freePort } from '../../src/store/embedded-redis.js';
import { isLoggedAttempt } from '../../src/trans/failure-log.js';
import { gidOf, sagaBody } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const logs: Record<string, unknown>[] = [];
const s = useScenario(t, { logs });

/** The warn lines about `gid`'s failed calls. */
const failureLines = (gid: string): Record<string, unknown>[] => logs.filter((l) => l['gid'] === gid && l['msg'] === 'branch call failed');

t.test('a failing action shows its last error, attempts and last attempt time, and the retries, then succeeds', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOut', 'ERROR', 'GARBAGE');
  const started = s.dtm.clock.now();
  t.equal((await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']]))).status, 200, 'submitted');
  await t.resolves(waitForCalls(1), 'the first call was made');
  let q = await waitForAttempts(gid, 1);
  t.match(
    q.branches[1],
    { op: 'action', status: 'prepared', attempts: 1, last_error: /^ERROR \(HTTP 500\): \{"error":"boom"\}$/ },
    'the action: one attempt and its error',
  );
  t.equal(Date.parse(q.branches[1].last_attempt_time), started, 'the last attempt time');
  t.match(q.transaction, { status: 'submitted', retries: 1 }, 'the transaction: one retry');
  t.notOk('attempts' in q.branches[0], 'the compensation, never called, shows no attempts');
  const [line] = failureLines(gid);
  t.match(
    line,
    {
      level: 'warn',
      hostname: /\S/,
      version: /^\d+\.\d+\.\d+/,
      trans_type: 'saga',
      branch_id: '01',
      op: 'action',
      url: `${s.busi.url}/TransOut`,
      outcome: 'ERROR',
      status_code: 500,
      detail: '{"error":"boom"}',
      attempt: 1,
      // DTM's backoff: the first failure doubles the 10 s interval.
      next_retry: new Date(started + 20_000).toISOString(),
      trans_status: 'submitted',
    },
    'one warn line with what an operator needs, the next retry included',
  );

  s.dtm.clock.advance(20_000);
  await s.dtm.app.poller.tick();
  q = await waitForAttempts(gid, 2);
  t.match(q.branches[1], { attempts: 2, last_error: /^ERROR \(HTTP 502\): <html>bad gateway<\/html>$/ }, 'the second error replaces the first');
  t.match(q.transaction, { retries: 2 }, 'two retries');
  t.equal(failureLines(gid).length, 2, 'a second warn line');

  s.dtm.clock.advance(40_000);
  await s.dtm.app.poller.tick();
  q = await s.dtm.waitStatus(gid, 'succeed');
  t.match(q.branches[1], { status: 'succeed', attempts: 3, last_error: /HTTP 502/ }, 'success on the third attempt; the last error stays visible');
  t.match(q.transaction, { retries: 2 }, 'still two retries');
  t.equal(failureLines(gid).length, 2, 'a success logs no warn line');
});

t.test('an unreachable branch shows the connection error', async (t) => {
  const gid = gidOf(t.name);
  const dead = `http://127.0.0.1:${await freePort()}`;
  t.equal((await s.dtm.post('submit', sagaBody(gid, dead, [['TransOut', '']]))).status, 200, 'submitted');
  const q = await waitForAttempts(gid, 1);
  t.match(q.branches[1], { attempts: 1, last_error: /^ERROR \(no response\): ECONNREFUSED/ }, 'ECONNREFUSED, without an HTTP status');
  t.match(failureLines(gid)[0], { outcome: 'ERROR', status_code: 0, detail: /ECONNREFUSED/ }, 'and its warn line');
});

t.test('query omits empty fields as DTM does: no owner, ext_data, empty rollback_reason or never-set times', async (t) => {
  const gid = gidOf(t.name);
  t.equal((await s.dtm.post('submit', sagaBody(gid, s.busi.url, [['TransOut', 'TransOutRevert']]))).status, 200, 'submitted');
  const q = await s.dtm.waitStatus(gid, 'succeed');
  for (const k of ['owner', 'ext_data', 'rollback_reason', 'rollback_time', 'result', 'retry_count', 'retries', 'query_prepared', 'custom_data']) {
    t.notOk(k in q.transaction, `no ${k}`);
  }
  t.match(q.transaction, { id: 0, gid, status: 'succeed', concurrent: false, protocol: 'http' }, 'id and concurrent always; the rest when set');
  t.notOk('rollback_time' in q.branches[1], 'a branch has no rollback_time');
  t.match(q.branches[1], { attempts: 1, last_attempt_time: q.branches[1].finish_time }, 'a first-try success: one attempt, at its finish time');
  t.notOk('last_error' in q.branches[1], 'and no error');
});

t.test('a branch retried for days logs attempts 1 to 5, then every power of two', async (t) => {
  const logged = Array.from({ length: 100 }, (_, i) => i + 1).filter(isLoggedAttempt);
  t.strictSame(logged, [1, 2, 3, 4, 5, 8, 16, 32, 64], 'the logged attempt numbers up to 100');
});

async function waitForCalls(n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (s.busi.calls.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Polls `query` until the action (branch 1) shows `n` attempts. */
async function waitForAttempts(gid: string, n: number): Promise<{ transaction: any; branches: any[] }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const q = await s.dtm.query(gid);
    if ((q.branches[1]?.attempts ?? 0) >= n && q.transaction.retries !== undefined) return q;
    if (Date.now() > deadline) throw new Error(`${gid}: no ${n} attempts in ${JSON.stringify(q)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
