/**
 * Load-levelling under a burst (issue 15 item 3): with MAX_INFLIGHT_ROUNDS=4 and a slow branch
 * service, a burst of 200 submits (sagas without and with wait_result, and flash-style msgs
 * prepared then submitted) is answered 200 throughout, the branch service never sees more than 4
 * calls at once, and every transaction finishes. The cron interval is 30 s, so the transactions
 * left to the schedule can only finish in time through the poller's wake on freed slots.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startBusi } from '../fixtures/busi.js';
import { startTestApp, waitFor, type TestApp } from '../fixtures/app.js';

const LIMIT = 4;
const BRANCH_MS = 15;

let dtm: TestApp;
let stub: Server;
let stubUrl: string;
let inFlight = 0;
let peak = 0;
let calls = 0;

t.before(async () => {
  // A branch service that takes BRANCH_MS per call and counts the calls it holds at once.
  stub = createServer((req, res) => {
    inFlight++;
    calls++;
    peak = Math.max(peak, inFlight);
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"dtm_result":"SUCCESS"}');
      }, BRANCH_MS),
    );
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/busi`;
  dtm = await startTestApp({ env: { MAX_INFLIGHT_ROUNDS: String(LIMIT), TRANS_CRON_INTERVAL: '30' }, poll: true, realClock: true });
});
t.teardown(async () => {
  await dtm.stop();
  await new Promise<void>((r) => {
    stub.closeAllConnections();
    stub.close(() => r());
  });
});

const saga = (gid: string, wait: boolean): Record<string, unknown> => ({
  gid,
  trans_type: 'saga',
  steps: [
    { action: `${stubUrl}/out`, compensate: `${stubUrl}/outRevert` },
    { action: `${stubUrl}/in`, compensate: `${stubUrl}/inRevert` },
  ],
  payloads: ['{"amount":1}', '{"amount":1}'],
  wait_result: wait,
});

const msg = (gid: string): Record<string, unknown> => ({ gid, trans_type: 'msg', steps: [{ action: `${stubUrl}/order` }], payloads: ['{"amount":1}'] });

t.test(`a burst of 200 submits with MAX_INFLIGHT_ROUNDS=${LIMIT}: all answered 200, at most ${LIMIT} branch calls at once, all finish`, async (t) => {
  const run = Date.now().toString(36);
  const plain = Array.from({ length: 150 }, (_, i) => `lv-${run}-saga-${i}`);
  const waited = Array.from({ length: 30 }, (_, i) => `lv-${run}-wait-${i}`);
  const flash = Array.from({ length: 20 }, (_, i) => `lv-${run}-msg-${i}`);
  const started = Date.now();
  const answers = await Promise.all([
    ...plain.map((gid) => dtm.post('submit', saga(gid, false))),
    ...waited.map((gid) => dtm.post('submit', saga(gid, true))),
    // The flash path: prepare, then the submit promotes it (left to the schedule, due now, when no slot is free).
    ...flash.map(async (gid) => {
      const prepared = await dtm.post('prepare', msg(gid));
      if (prepared.status !== 200) return prepared;
      return dtm.post('submit', msg(gid));
    }),
  ]);
  const refused = answers.filter((a) => a.status !== 200);
  t.strictSame(refused, [], 'every call was answered 200: an overload costs latency, not errors');
  t.ok(
    answers.slice(150, 180).every((a) => (a.body as { dtm_result?: string }).dtm_result === 'SUCCESS'),
    'the wait_result callers waited in line for a slot and were told SUCCESS',
  );

  const all = [...plain, ...waited, ...flash];
  for (const gid of all) await dtm.waitStatus(gid, 'succeed', 20_000);
  const drainS = (Date.now() - started) / 1000;
  t.ok(drainS < 20, `all ${all.length} finished in ${drainS.toFixed(1)} s, well before the 30 s cron interval would have let the schedule run twice`);
  t.equal(calls, plain.length * 2 + waited.length * 2 + flash.length, 'each branch was called once: nothing was retried');
  t.ok(peak <= LIMIT, `the branch service held at most ${LIMIT} calls at once (peak ${peak})`);
  t.ok(peak >= 2, `and the rounds did run side by side (peak ${peak})`);
  t.equal(dtm.app.engine.slots.inUse, 0, 'every slot is free again');

  const metrics = (await (await fetch(`${dtm.base}/api/metrics`)).text()).split('\n');
  const value = (name: string): number => Number(metrics.find((l) => l.startsWith(`${name} `))?.split(' ')[1]);
  t.equal(value('dtm_rounds_in_flight_limit'), LIMIT, 'the bound is exported');
  t.equal(value('dtm_rounds_in_flight'), 0, 'so are the rounds in flight (none now)');
  t.ok(value('dtm_rounds_deferred_total') > 0, `the calls that found every slot busy are counted (${value('dtm_rounds_deferred_total')})`);
  t.equal(value('dtm_rounds_waiting'), 0, 'nobody is left in line');
});

t.test('a wait_result caller whose transaction came due while it waited in line starts from the stored record', async (t) => {
  const busi = await startBusi();
  const one = await startTestApp({ env: { MAX_INFLIGHT_ROUNDS: '1' } });
  t.teardown(async () => {
    await one.stop();
    await busi.close();
  });
  // The one slot is busy with a slow round.
  busi.delay('Slow', 300);
  const blocker = `lv-blocker-${Date.now().toString(36)}`;
  t.equal(
    (await one.post('submit', { ...saga(blocker, false), steps: [{ action: `${busi.url}/Slow`, compensate: '' }], payloads: ['{}'] })).status,
    200,
    'the blocker is accepted',
  );
  await waitFor(() => one.app.engine.slots.inUse === 1, 2000, 'the blocker to hold the slot');

  const gid = `lv-waiter-${Date.now().toString(36)}`;
  const waiting = one.post('submit', { ...saga(gid, true), steps: [{ action: `${busi.url}/Out`, compensate: `${busi.url}/OutRevert` }], payloads: ['{}'] });
  await waitFor(() => one.app.engine.slots.waiting === 1, 2000, 'the wait_result caller to queue');
  // Meanwhile its lease runs out (as if it waited that long) and an operator stops it.
  one.clock.advance(60_000);
  t.equal((await one.post('forceStop', { gid })).status, 200, 'force-stopped while it waits');

  const answer = await waiting;
  t.equal(answer.status, 409, 'the caller is told the stored outcome: FAILURE');
  t.equal(busi.callsTo('Out').length, 0, 'and its branch was never called on the stale copy');
  t.equal((await one.query(gid)).transaction.status, 'failed', 'the transaction stays failed');
  await waitFor(() => one.app.engine.slots.inUse === 0, 2000, 'the slots to come free');
});

t.test('with every slot busy, a submit and a TCC abort that do not wait are answered and left to the schedule, due at once', async (t) => {
  const busi = await startBusi();
  const one = await startTestApp({ env: { MAX_INFLIGHT_ROUNDS: '1' } });
  t.teardown(async () => {
    await one.stop();
    await busi.close();
  });
  busi.delay('Slow', 300);
  const run = Date.now().toString(36);
  await one.post('submit', { ...saga(`lv-block2-${run}`, false), steps: [{ action: `${busi.url}/Slow`, compensate: '' }], payloads: ['{}'] });
  await waitFor(() => one.app.engine.slots.inUse === 1, 2000, 'the blocker to hold the slot');

  const sub = `lv-deferred-saga-${run}`;
  const tcc = `lv-deferred-tcc-${run}`;
  t.equal(
    (await one.post('submit', { ...saga(sub, false), steps: [{ action: `${busi.url}/A`, compensate: '' }], payloads: ['{}'] })).status,
    200,
    'the submit is answered',
  );
  t.equal((await one.post('prepare', { gid: tcc, trans_type: 'tcc' })).status, 200, 'a TCC is prepared');
  const reg = { gid: tcc, trans_type: 'tcc', branch_id: '01', data: '{}', confirm: `${busi.url}/TConfirm`, cancel: `${busi.url}/TCancel` };
  t.equal((await one.post('registerBranch', reg)).status, 200, 'with a branch');
  t.equal((await one.post('abort', { gid: tcc, trans_type: 'tcc' })).status, 200, 'the abort is answered');
  const now = one.clock.now();
  t.match((await one.query(sub)).transaction, { status: 'submitted' }, 'the submit waits in the schedule');
  t.equal(new Date((await one.query(sub)).transaction.next_cron_time as string).getTime(), now, 'due at once, not a lease later');
  t.match((await one.query(tcc)).transaction, { status: 'aborting' }, 'the TCC is aborting');
  t.equal(new Date((await one.query(tcc)).transaction.next_cron_time as string).getTime(), now, 'its rollback is due at once too');
  t.equal(busi.callsTo('A').length + busi.callsTo('TCancel').length, 0, 'neither round started');
  t.equal(one.app.engine.slots.deferrals, 2, 'both counted as deferred');

  await waitFor(() => one.app.engine.slots.inUse === 0, 2000, 'the blocker to end');
  // Without moving the clock: what is due now is claimed now. With one slot a pass asks one
  // bucket, so a sweep over the 8 buckets (twice, one per transaction) finds both.
  for (let pass = 0; pass < 16; pass++) await one.app.poller.tick();
  t.equal((await one.query(sub)).transaction.status, 'succeed', 'the poller drove the submit to succeed');
  t.equal((await one.query(tcc)).transaction.status, 'failed', 'and the TCC rollback to failed');
  t.equal(busi.callsTo('TCancel').length, 1, 'the cancel branch was called once');
});
