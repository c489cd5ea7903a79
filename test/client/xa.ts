/**
 * The SDK's XA global side against our coordinator, with a stub resource manager that registers
 * itself (as a real RM does from inside its local XA transaction) and records phase 2.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { callDtm, closeDtmHttp, FailureError, parseCallback, resultToHttp, xaGlobalTransaction } from '../../src/client/index.js';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);
t.teardown(closeDtmHttp);

interface RmCall {
  path: string;
  query: Record<string, string>;
  body: string;
}
const rmCalls: RmCall[] = [];
/** Paths whose next action fails before registering (the local XA transaction rolled back). */
const failNext = new Set<string>();
let rm: Server;
let rmUrl = '';

t.before(async () => {
  rm = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = u.pathname.slice(1);
        rmCalls.push({ path, query: Object.fromEntries(u.searchParams), body: Buffer.concat(chunks).toString() });
        let err: unknown;
        try {
          const cb = parseCallback(u.searchParams);
          if (cb.op === 'action') {
            if (failNext.delete(path)) throw new FailureError('insufficient balance');
            await callDtm(cb.dtm ?? '', 'registerBranch', { body: { gid: cb.gid, trans_type: 'xa', branch_id: cb.branchId, url: cb.phase2Url ?? '' } });
          }
        } catch (e) {
          err = e;
        }
        const a = resultToHttp(err);
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      })();
    });
  });
  await new Promise<void>((r) => rm.listen(0, '127.0.0.1', r));
  rmUrl = `http://127.0.0.1:${(rm.address() as AddressInfo).port}`;
});
t.teardown(() => new Promise<void>((r) => rm.close(() => r())));
t.beforeEach(() => {
  rmCalls.length = 0;
  failNext.clear();
});

t.test('xa: success — actions with phase2_url, the RM registers, submit commits in order', async (t) => {
  const gid = gidOf(t.name);
  await xaGlobalTransaction(
    s.dtm.dtm,
    gid,
    async (xa) => {
      await xa.callBranch({ amount: 30 }, `${rmUrl}/TransOutXa`);
      await xa.callBranch({ amount: 30 }, `${rmUrl}/TransInXa`);
    },
    { waitResult: true },
  );
  t.strictSame(
    rmCalls.map((c) => [c.path, c.query, c.body]),
    [
      ['TransOutXa', { dtm: s.dtm.dtm, gid, branch_id: '01', trans_type: 'xa', op: 'action', phase2_url: `${rmUrl}/TransOutXa` }, '{"amount":30}'],
      ['TransInXa', { dtm: s.dtm.dtm, gid, branch_id: '02', trans_type: 'xa', op: 'action', phase2_url: `${rmUrl}/TransInXa` }, '{"amount":30}'],
      ['TransOutXa', { branch_id: '01', gid, op: 'commit', trans_type: 'xa' }, ''],
      ['TransInXa', { branch_id: '02', gid, op: 'commit', trans_type: 'xa' }, ''],
    ],
    'two actions, then commit 01, 02 (POST, empty body)',
  );
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'succeed');
  t.strictSame(
    q.branches.map((b: { op: string; status: string }) => `${b.op}:${b.status}`),
    ['rollback:prepared', 'commit:succeed', 'rollback:prepared', 'commit:succeed'],
    'rollback/commit pairs',
  );
});

t.test('xa: rollback — the second action fails; abort rolls back the registered branch only', async (t) => {
  const gid = gidOf(t.name);
  failNext.add('TransInXa');
  await t.rejects(
    xaGlobalTransaction(
      s.dtm.dtm,
      gid,
      async (xa) => {
        await xa.callBranch({ amount: 30 }, `${rmUrl}/TransOutXa`);
        await xa.callBranch({ amount: 30 }, `${rmUrl}/TransInXa`);
      },
      { waitResult: true },
    ),
    { name: 'FailureError', message: 'insufficient balance' },
    "the RM's failure is re-thrown",
  );
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'insufficient balance' }, 'failed with the reason');
  t.strictSame(
    q.branches.map((b: { branch_id: string; op: string; status: string }) => `${b.branch_id}:${b.op}:${b.status}`),
    ['01:rollback:succeed', '01:commit:prepared'],
    'only branch 01 was registered, and it was rolled back',
  );
  t.strictSame(
    rmCalls.filter((c) => c.query['op'] === 'rollback').map((c) => c.path),
    ['TransOutXa'],
    'rollback called on TransOutXa',
  );
  t.equal(rmCalls.filter((c) => c.query['op'] === 'commit').length, 0, 'no commit');
});

t.test('xa: without waitResult the commit happens in the background', async (t) => {
  const gid = gidOf(t.name);
  await xaGlobalTransaction(s.dtm.dtm, gid, (xa) => xa.callBranch('', `${rmUrl}/TransOutXa`));
  await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    rmCalls.map((c) => c.query['op']),
    ['action', 'commit'],
    'action then commit',
  );
});
