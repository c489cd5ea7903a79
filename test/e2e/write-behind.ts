/**
 * When branch results reach Redis (UPDATE_BRANCH_SYNC). By default they are written behind: with
 * the round's status change, or after BRANCH_WRITE_BEHIND_MS while another call is still running.
 * With UPDATE_BRANCH_SYNC=1 each result is written before the next call, as DTM does.
 */
import t from 'tap';
import { gidOf, sagaBody, startTestApp, waitFor, type TestApp } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';
import { BRANCH_WRITE_BEHIND_MS } from '../../src/trans/round.js';

const s = useScenario(t);

/** How many saveProgress scripts this coordinator has run (from its metrics). */
async function saveProgressCalls(dtm: TestApp): Promise<number> {
  const text = await (await fetch(`${dtm.base}/api/metrics`)).text();
  return [...text.matchAll(/^dtm_redis_script_replies_total\{script="saveProgress",tag="[A-Z_]+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

const actionStatus = async (dtm: TestApp, gid: string, step: number): Promise<string> => (await dtm.query(gid)).branches[2 * step + 1]?.status;

t.test('by default a saga whose branches answer quickly writes its results once, with the final status', async (t) => {
  const gid = gidOf(t.name);
  const before = await saveProgressCalls(s.dtm);
  await s.dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['S1', 'C1'],
      ['S2', 'C2'],
    ]),
  );
  const q = await s.dtm.waitStatus(gid, 'succeed');
  t.strictSame(
    q.branches.map((b: { status: string }) => b.status),
    ['prepared', 'succeed', 'prepared', 'succeed'],
    'both results are recorded',
  );
  t.equal(await saveProgressCalls(s.dtm), before, 'no separate progress write: create, then finish with both results');
});

t.test(`by default a result is written within ${BRANCH_WRITE_BEHIND_MS} ms while the next branch is still running`, async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('S2', 1500);
  await s.dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['S1', 'C1'],
      ['S2', 'C2'],
    ]),
  );
  await waitFor(() => s.busi.callsTo('S2').length === 1);
  await waitFor(async () => (await actionStatus(s.dtm, gid, 0)) === 'succeed', 1000, 'step 1 to be recorded');
  t.equal(await actionStatus(s.dtm, gid, 0), 'succeed', 'step 1 is recorded');
  t.equal(s.busi.callsTo('S2')[0]!.doneAt, 0, 'while step 2 has not answered yet');
  t.equal(await actionStatus(s.dtm, gid, 1), 'prepared');
  await s.dtm.waitStatus(gid, 'succeed');
});

t.test('in a concurrent saga a result is written within the window while a sibling call still runs', async (t) => {
  const gid = gidOf(t.name);
  s.busi.delay('Slow', 1500);
  await s.dtm.post(
    'submit',
    sagaBody(
      gid,
      s.busi.url,
      [
        ['Fast', ''],
        ['Slow', ''],
      ],
      { custom_data: JSON.stringify({ concurrent: true }) },
    ),
  );
  await waitFor(() => s.busi.callsTo('Fast').length === 1 && s.busi.callsTo('Fast')[0]!.doneAt > 0);
  await waitFor(async () => (await actionStatus(s.dtm, gid, 0)) === 'succeed', 1000, 'the fast step to be recorded');
  t.equal(await actionStatus(s.dtm, gid, 0), 'succeed', 'the fast step is recorded');
  t.equal(s.busi.callsTo('Slow')[0]!.doneAt, 0, 'while the slow step has not answered yet');
  await s.dtm.waitStatus(gid, 'succeed');
});

t.test('with UPDATE_BRANCH_SYNC=1 each result is written before the next branch is called', async (t) => {
  const dtm = await startTestApp({ redis: s.dtm.redis, env: { UPDATE_BRANCH_SYNC: '1', STORE_REDIS_PREFIX: `sync${process.pid}` } });
  t.teardown(() => dtm.stop());
  const gid = gidOf(t.name);
  s.busi.delay('S2', 800);
  await dtm.post(
    'submit',
    sagaBody(gid, s.busi.url, [
      ['S1', 'C1'],
      ['S2', 'C2'],
      ['S3', 'C3'],
    ]),
  );
  await waitFor(() => s.busi.callsTo('S2').length === 1);
  t.equal(await actionStatus(dtm, gid, 0), 'succeed', 'step 1 is already recorded when step 2 is called');
  await dtm.waitStatus(gid, 'succeed');
  t.equal(await saveProgressCalls(dtm), 2, 'one progress write before each of steps 2 and 3');
});
