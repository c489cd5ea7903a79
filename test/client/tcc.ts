/** The SDK's TCC global transaction against our coordinator and the fake business service. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { closeDtmHttp, FailureError, OngoingError, resultToHttp, tccFromQuery, tccGlobalTransaction } from '../../src/client/index.js';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);
t.teardown(closeDtmHttp);

const statuses = (q: { branches: { status: string }[] }): string[] => q.branches.map((b) => b.status);
const urls = (name: string): [string, string, string] => [`${s.busi.url}/${name}Try`, `${s.busi.url}/${name}Confirm`, `${s.busi.url}/${name}Cancel`];

t.test('tcc: success — register + try per branch, submit confirms in reverse order', async (t) => {
  const gid = gidOf(t.name);
  const out = await tccGlobalTransaction(
    s.dtm.dtm,
    gid,
    async (tcc) => {
      const r1 = await tcc.callBranch({ amount: 30 }, ...urls('TransOut'));
      await tcc.callBranch('raw', ...urls('TransIn'));
      return r1.status;
    },
    { waitResult: true, branchHeaders: { 'x-h': 'v' } },
  );
  t.equal(out, 200, "the function's value is returned");
  t.strictSame(
    s.busi.calls.map((c) => [c.method, c.path, c.query, c.body, c.headers['x-h']]),
    [
      ['POST', 'TransOutTry', { dtm: s.dtm.dtm, gid, branch_id: '01', trans_type: 'tcc', op: 'try' }, '{"amount":30}', 'v'],
      ['POST', 'TransInTry', { dtm: s.dtm.dtm, gid, branch_id: '02', trans_type: 'tcc', op: 'try' }, 'raw', 'v'],
      ['POST', 'TransInConfirm', { branch_id: '02', gid, op: 'confirm', trans_type: 'tcc' }, 'raw', 'v'],
      ['POST', 'TransOutConfirm', { branch_id: '01', gid, op: 'confirm', trans_type: 'tcc' }, '{"amount":30}', 'v'],
    ],
    'tries with dtm/gid/branch_id/trans_type/op=try, then confirms 02, 01 with the registered data',
  );
  const q = await s.dtm.query(gid);
  t.equal(q.transaction.status, 'succeed', 'succeed');
  t.strictSame(statuses(q), ['prepared', 'succeed', 'prepared', 'succeed'], 'cancel/confirm pairs');
});

t.test('tcc: cancel after a try FAILURE — abort with the reason, every registered branch cancelled', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransInTry', 'FAILURE');
  let reached = false;
  await t.rejects(
    tccGlobalTransaction(
      s.dtm.dtm,
      gid,
      async (tcc) => {
        await tcc.callBranch({ amount: 30 }, ...urls('TransOut'));
        await tcc.callBranch({ amount: 30 }, ...urls('TransIn'));
        reached = true;
      },
      { waitResult: true },
    ),
    { name: 'FailureError', status: 409, message: 'busi says no' },
    "the try's FailureError is re-thrown",
  );
  t.notOk(reached, 'the function stopped at the failed try');
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'busi says no' }, "failed with the try's message as rollback_reason");
  t.strictSame(statuses(q), ['succeed', 'prepared', 'succeed', 'prepared'], 'both cancels ran');
  t.strictSame(
    s.busi.calls.filter((c) => c.query['op'] === 'cancel').map((c) => c.path),
    ['TransInCancel', 'TransOutCancel'],
    'cancel 02 then 01',
  );
});

t.test('tcc: an ONGOING try is an OngoingError and aborts too; a plain error in the function aborts', async (t) => {
  const gid = gidOf(t.name);
  s.busi.next('TransOutTry', 'ONGOING');
  await t.rejects(
    tccGlobalTransaction(s.dtm.dtm, gid, (tcc) => tcc.callBranch({}, ...urls('TransOut')), { waitResult: true }),
    OngoingError,
    'OngoingError',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'failed', 'aborted');
  const gid2 = gidOf(`${t.name} plain`);
  await t.rejects(
    tccGlobalTransaction(s.dtm.dtm, gid2, async (tcc) => {
      await tcc.callBranch({}, ...urls('TransOut'));
      throw new Error('app crashed');
    }),
    { message: 'app crashed' },
    "the function's own error",
  );
  await s.dtm.waitStatus(gid2, 'failed');
  t.match((await s.dtm.query(gid2)).transaction, { rollback_reason: 'app crashed' }, 'the reason is the error message');
});

t.test('tcc: nested branches — a try calls sub-branches with ids under its own (0101, 0102)', async (t) => {
  const gid = gidOf(t.name);
  // A service whose try opens nested TCC branches on the busi service, from its own query.
  const nested: Server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    req.resume();
    req.on('end', () => {
      void (async () => {
        let err: unknown;
        try {
          const tcc = tccFromQuery(query);
          await tcc.callBranch({ sub: 1 }, ...urls('Sub1'));
          await tcc.callBranch({ sub: 2 }, ...urls('Sub2'));
        } catch (e) {
          err = e;
        }
        const a = resultToHttp(err);
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      })();
    });
  });
  await new Promise<void>((r) => nested.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => nested.close(() => r())));
  const nestedUrl = `http://127.0.0.1:${(nested.address() as AddressInfo).port}/NestedTry`;

  await tccGlobalTransaction(
    s.dtm.dtm,
    gid,
    async (tcc) => {
      await tcc.callBranch({ top: 1 }, nestedUrl, `${s.busi.url}/TopConfirm`, `${s.busi.url}/TopCancel`);
      await tcc.callBranch({ top: 2 }, ...urls('TransIn'));
    },
    { waitResult: true },
  );
  t.strictSame(
    s.busi.calls.filter((c) => c.query['op'] === 'try').map((c) => [c.path, c.query['branch_id']]),
    [
      ['Sub1Try', '0101'],
      ['Sub2Try', '0102'],
      ['TransInTry', '02'],
    ],
    'nested tries get 0101, 0102; the next top-level branch 02',
  );
  t.strictSame(
    s.busi.calls.filter((c) => c.query['op'] === 'confirm').map((c) => [c.path, c.query['branch_id']]),
    [
      ['TransInConfirm', '02'],
      ['Sub2Confirm', '0102'],
      ['Sub1Confirm', '0101'],
      ['TopConfirm', '01'],
    ],
    'confirms in reverse registration order (01 registered before its nested branches)',
  );
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed');
  t.throws(() => tccFromQuery({ gid }), { name: 'DtmClientError' }, 'tccFromQuery needs dtm in the query');
});

t.test('tcc: registering after the global left prepared is a FailureError', async (t) => {
  const gid = gidOf(t.name);
  let saved: Parameters<Parameters<typeof tccGlobalTransaction>[2]>[0] | undefined;
  await tccGlobalTransaction(
    s.dtm.dtm,
    gid,
    async (tcc) => {
      saved = tcc;
    },
    { waitResult: true },
  );
  await t.rejects(saved!.callBranch({}, ...urls('Late')), FailureError, 'registerBranch → 409 → FailureError');
  t.equal(s.busi.callsTo('LateTry').length, 0, 'the try is not called');
});
