/** TCC and XA scenarios: dtm-protocol.md §13 items 35-44. */
import t from 'tap';
import { gidOf, waitFor } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);

const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);

async function prepareTcc(gid: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await s.dtm.post('prepare', { gid, trans_type: 'tcc', ...extra });
  if (r.status !== 200) throw new Error(`prepare failed: ${JSON.stringify(r)}`);
}

async function registerTcc(gid: string, branchId: string, name: string, path = 'registerBranch'): Promise<{ status: number; body: any }> {
  return s.dtm.post(path, {
    gid,
    trans_type: 'tcc',
    branch_id: branchId,
    data: JSON.stringify({ amount: 30, branch: branchId }),
    confirm: `${s.busi.url}/${name}Confirm`,
    cancel: `${s.busi.url}/${name}Cancel`,
  });
}

t.test('35. tcc: prepare → register ×2 → submit confirms 02 then 01, POST with data, succeed', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid);
  t.equal((await registerTcc(gid, '01', 'TransOut')).status, 200, 'register 01');
  t.equal((await registerTcc(gid, '02', 'TransIn')).status, 200, 'register 02');
  t.strictSame(await s.dtm.post('submit', { gid, trans_type: 'tcc', wait_result: true }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'submit 200');
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query]),
    [
      ['POST', 'TransInConfirm', { branch_id: '02', gid, op: 'confirm', trans_type: 'tcc' }],
      ['POST', 'TransOutConfirm', { branch_id: '01', gid, op: 'confirm', trans_type: 'tcc' }],
    ],
    'confirm 02 then confirm 01',
  );
  t.equal(s.busi.calls[0]!.body, JSON.stringify({ amount: 30, branch: '02' }), 'the body is the registered data');
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'succeed');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'cancel/confirm pairs');
  t.strictSame(
    q.branches.map((b: { op: string }) => b.op),
    ['cancel', 'confirm', 'cancel', 'confirm'],
    'ops in registration order',
  );
});

t.test('36. tcc: abort with rollback_reason cancels 02 then 01, failed with the reason', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid, { wait_result: true });
  await registerTcc(gid, '01', 'TransOut');
  await registerTcc(gid, '02', 'TransIn');
  t.strictSame(await s.dtm.post('abort', { gid, trans_type: 'tcc', rollback_reason: 'x' }), { status: 200, body: { dtm_result: 'SUCCESS' } }, 'abort 200');
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['op']]),
    [
      ['TransInCancel', 'cancel'],
      ['TransOutCancel', 'cancel'],
    ],
    'cancel 02 then 01',
  );
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'x' }, 'failed with the reason');
  t.strictSame(statuses(q), ['succeed', 'prepared', 'succeed', 'prepared'], "DTM's statuses");
});

t.test('37. tcc: registerBranch after submit, or for an unknown gid → 409 FAILURE', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid);
  await s.dtm.post('submit', { gid, trans_type: 'tcc', wait_result: true });
  t.strictSame(
    await registerTcc(gid, '01', 'Late'),
    { status: 409, body: { dtm_result: 'FAILURE', message: `no trans with gid: ${gid} status: prepared found FAILURE` } },
    'after submit',
  );
  t.strictSame(
    await registerTcc('no-such-gid-37', '01', 'Late'),
    { status: 409, body: { dtm_result: 'FAILURE', message: 'no trans with gid: no-such-gid-37 status: prepared found FAILURE' } },
    'unknown gid',
  );
});

t.test('38. tcc: registering the same branch_id twice → non-2xx, one pair stored', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid);
  await registerTcc(gid, '01', 'A');
  const again = await registerTcc(gid, '01', 'A');
  t.equal(again.status, 500, 'second registration refused');
  t.match(again.body, { message: 'storage: UniqueKeyConflict' }, "DTM's message");
  t.equal((await s.dtm.query(gid)).branches.length, 2, 'still one cancel/confirm pair');
  await s.dtm.post('forceStop', { gid });
});

t.test('39. registerTccBranch and registerXaBranch behave as registerBranch', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid);
  t.equal((await registerTcc(gid, '01', 'A', 'registerTccBranch')).status, 200, 'registerTccBranch');
  t.equal((await registerTcc(gid, '02', 'B', 'registerXaBranch')).status, 200, 'registerXaBranch');
  t.equal((await s.dtm.query(gid)).branches.length, 4, 'both registered');
  await s.dtm.post('forceStop', { gid });
});

t.test('40. tcc: left prepared, it is cancelled after timeout_to_fail with "Timeout after N seconds"', async (t) => {
  const gid = gidOf(t.name);
  await prepareTcc(gid, { timeout_to_fail: 5 });
  await registerTcc(gid, '01', 'T40');
  s.dtm.clock.advance(4000);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(gid)).transaction.status, 'prepared', 'not before the timeout');
  s.dtm.clock.advance(1001);
  await s.dtm.app.poller.tick();
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'Timeout after 5 seconds' }, 'cancelled by timeout');
  t.strictSame(
    s.busi.calls.map((c) => [c.path, c.query['op']]),
    [['T40Cancel', 'cancel']],
    'the cancel was called',
  );

  const dflt = gidOf(`${t.name}-default`);
  await prepareTcc(dflt);
  s.dtm.clock.advance(34_000);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(dflt)).transaction.status, 'prepared', 'default: not before 35 s');
  s.dtm.clock.advance(1001);
  await s.dtm.app.poller.tick();
  t.match(
    (await s.dtm.query(dflt)).transaction,
    { status: 'failed', rollback_reason: 'Timeout after 0 seconds' },
    'default timeout quotes the option, as DTM does',
  );
});

t.test('41. tcc: confirm 500 is retried with backoff until 200; cancel 409 is retried, never failed', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('C41Confirm', 'ERROR');
  await prepareTcc(gid);
  await registerTcc(gid, '01', 'C41');
  await s.dtm.post('submit', { gid, trans_type: 'tcc', wait_result: true });
  let q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'submitted', next_cron_interval: 20 }, 'backed off');
  s.dtm.clock.advance(20_001);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'confirmed on retry');

  const g2 = gidOf(`${t.name}-cancel`);
  s.busi.next('K41Cancel', 'FAILURE');
  await prepareTcc(g2);
  await registerTcc(g2, '01', 'K41');
  await s.dtm.post('abort', { gid: g2, trans_type: 'tcc' });
  await s.dtm.waitStatus(g2, 'aborting');
  await waitFor(() => s.busi.callsTo('K41Cancel').length === 1);
  for (let i = 0; i < 200 && (await s.dtm.query(g2)).transaction.next_cron_interval !== 20; i++) await new Promise((r) => setTimeout(r, 10));
  q = await s.dtm.query(g2);
  t.equal(q.transaction.next_cron_interval, 20, 'the refused cancel backed off');
  t.equal(q.transaction.status, 'aborting', 'a cancel answering 409 leaves it aborting');
  s.dtm.clock.advance(q.transaction.next_cron_interval * 1000 + 1);
  await s.dtm.app.poller.tick();
  t.equal((await s.dtm.query(g2)).transaction.status, 'failed', 'failed once the cancel succeeded');
});

t.test('42. tcc: abort on an aborting TCC → 200 (re-processed); on a submitted one → 409', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('A42Cancel', 'ERROR');
  await prepareTcc(gid, { wait_result: true });
  await registerTcc(gid, '01', 'A42');
  t.equal((await s.dtm.post('abort', { gid, trans_type: 'tcc' })).status, 500, 'first abort waits and reports the cancel error');
  t.equal((await s.dtm.query(gid)).transaction.status, 'aborting', 'aborting');
  t.equal((await s.dtm.post('abort', { gid, trans_type: 'tcc' })).status, 200, 'abort again → 200');
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'finished');

  const g2 = gidOf(`${t.name}-submitted`);
  s.busi.next('S42Confirm', 'ONGOING');
  await prepareTcc(g2);
  await registerTcc(g2, '01', 'S42');
  await s.dtm.post('submit', { gid: g2, trans_type: 'tcc', wait_result: true });
  const r = await s.dtm.post('abort', { gid: g2, trans_type: 'tcc' });
  t.match(r, { status: 409, body: { dtm_result: 'FAILURE', message: /^trans type: 'tcc' current status 'submitted'/ } }, 'abort of a submitted TCC → 409');
  await s.dtm.post('forceStop', { gid: g2 });
});

t.test('43. xa: register 01, 02 → submit commits 01 then 02, POST with empty body', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepare', { gid, trans_type: 'xa' });
  for (const id of ['01', '02']) {
    t.equal((await s.dtm.post('registerBranch', { gid, trans_type: 'xa', branch_id: id, url: `${s.busi.url}/Xa${id}` })).status, 200, `register ${id}`);
  }
  await s.dtm.post('submit', { gid, trans_type: 'xa', wait_result: true });
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query['op'], c.body]),
    [
      ['POST', 'Xa01', 'commit', ''],
      ['POST', 'Xa02', 'commit', ''],
    ],
    'commit 01 then 02, POST, empty body',
  );
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'succeed');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'rollback/commit pairs');
});

t.test('44. xa: abort rolls back in forward order; a timed-out XA with no branches fails with []', async (t) => {
  const gid = gidOf(t.name);
  await s.dtm.post('prepare', { gid, trans_type: 'xa', wait_result: true });
  for (const id of ['01', '02']) await s.dtm.post('registerBranch', { gid, trans_type: 'xa', branch_id: id, url: `${s.busi.url}/Xb${id}` });
  t.equal((await s.dtm.post('abort', { gid, trans_type: 'xa' })).status, 200, 'abort 200');
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query['op']]),
    [
      ['POST', 'Xb01', 'rollback'],
      ['POST', 'Xb02', 'rollback'],
    ],
    'rollback 01 then 02',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'failed');

  const empty = gidOf(`${t.name}-empty`);
  await s.dtm.post('prepare', { gid: empty, trans_type: 'xa', timeout_to_fail: 3 });
  s.dtm.clock.advance(3001);
  await s.dtm.app.poller.tick();
  const q = await s.dtm.query(empty);
  t.equal(q.transaction.status, 'failed', 'timed out and failed');
  t.strictSame(q.branches, [], 'no branches');
});

t.test('tcc: submit without any prepare creates and succeeds at once; a bad registration is a 400', async (t) => {
  const gid = gidOf(t.name);
  t.equal((await s.dtm.post('submit', { gid, trans_type: 'tcc', wait_result: true })).status, 200, 'submit of an empty TCC');
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed with no branches');
  const g2 = gidOf(`${t.name}-bad`);
  await prepareTcc(g2);
  t.match(
    await s.dtm.post('registerBranch', { gid: g2, trans_type: 'tcc', branch_id: '01', confirm: 'ftp://x', cancel: '' }),
    { status: 400, body: { message: /DTM_BAD_URL/ } },
    'non-http confirm',
  );
  t.match(
    await s.dtm.post('registerBranch', { gid: g2, trans_type: 'tcc', branch_id: 1 }),
    { status: 400, body: { message: /branch_id must be a string/ } },
    'non-string value',
  );
  t.match(
    await s.dtm.post('registerBranch', { gid: g2, trans_type: 'saga', branch_id: '01' }),
    { status: 500, body: { message: 'unknow trans type: saga' } },
    "DTM's text for other types",
  );
  t.equal((await s.dtm.query(g2)).branches.length, 0, 'nothing registered');
  await s.dtm.post('forceStop', { gid: g2 });
});
