/**
 * The SDK's workflow against our coordinator: recorded progress, rollbacks, and resuming after
 * the process "crashes" mid-way, both by executing again and through the coordinator's resume call.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import {
  closeDtmHttp,
  createWorkflowRegistry,
  executeWorkflow,
  FailureError,
  OngoingError,
  registerWorkflow,
  resultToHttp,
  workflowResumeHandler,
  type WorkflowRegistry,
} from '../../src/client/index.js';
import { gidOf } from '../fixtures/app.js';
import { useScenario } from '../fixtures/scenario.js';

const s = useScenario(t);
t.teardown(closeDtmHttp);

let registry: WorkflowRegistry;
let resumeServer: Server;
let resumeUrl = '';
const resumeAnswers: number[] = [];

t.before(async () => {
  registry = createWorkflowRegistry();
  // The business service's resume endpoint: re-runs the named workflow for the gid.
  resumeServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      void registry
        .resume(query, Buffer.concat(chunks), s.dtm.dtm)
        .then(
          () => undefined,
          (e: unknown) => e,
        )
        .then((err) => {
          const a = resultToHttp(err);
          resumeAnswers.push(a.status);
          res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
        });
    });
  });
  await new Promise<void>((r) => resumeServer.listen(0, '127.0.0.1', r));
  resumeUrl = `http://127.0.0.1:${(resumeServer.address() as AddressInfo).port}/workflowResume`;
});
t.teardown(() => new Promise<void>((r) => resumeServer.close(() => r())));

const progress = async (gid: string): Promise<string[]> =>
  (await s.dtm.query(gid)).branches.map(
    (b: { branch_id: string; op: string; status: string; bin_data: string }) =>
      `${b.branch_id}-${b.op}:${b.status}:${Buffer.from(b.bin_data ?? '', 'base64').toString()}`,
  );

t.test('workflow: success — steps recorded, commits in reverse, result stored; running it again replays', async (t) => {
  const name = 'wf-success';
  const ran: string[] = [];
  registry.register(
    name,
    async (wf, input) => {
      const req = JSON.parse(input.toString()) as { amount: number };
      const out = await wf
        .newBranch()
        .onCommit(async (b) => {
          ran.push(`commit ${b.branchId} ${b.op}`);
        })
        .do(async (b) => {
          ran.push(`out ${b.branchId} ${b.op} ${b.transType} ${b.gid === wf.gid}`);
          return `out:${req.amount}`;
        });
      const inn = await wf
        .newBranch()
        .onCommit(async (b) => {
          ran.push(`commit ${b.branchId} ${b.op}`);
        })
        .do(async () => {
          ran.push('in');
          return Buffer.from(`in:${req.amount}`);
        });
      return `${out.toString()}+${inn.toString()}`;
    },
    { resumeUrl },
  );
  const gid = gidOf(t.name);
  const result = await registry.execute(s.dtm.dtm, name, gid, JSON.stringify({ amount: 30 }));
  t.equal(result.toString(), 'out:30+in:30', 'the workflow result');
  t.strictSame(ran, ['out 01 action workflow true', 'in', 'commit 02 commit', 'commit 01 commit'], 'steps in order, commits in reverse');
  const q = await s.dtm.query(gid);
  t.match(
    q.transaction,
    { status: 'succeed', result: Buffer.from('out:30+in:30').toString('base64'), query_prepared: resumeUrl },
    'succeed, result and resume URL stored',
  );
  t.match(
    JSON.parse(q.transaction.custom_data as string),
    { name, data: Buffer.from('{"amount":30}').toString('base64') },
    'custom_data {name, data: base64 input}',
  );
  t.strictSame(await progress(gid), ['01-action:succeed:out:30', '02-action:succeed:in:30', '02-commit:succeed:', '01-commit:succeed:'], 'progress recorded');
  ran.length = 0;
  const again = await registry.execute(s.dtm.dtm, name, gid, JSON.stringify({ amount: 30 }));
  t.equal(again.toString(), 'out:30+in:30', 'a finished workflow returns its stored result');
  t.strictSame(ran, [], 'without running anything');
  t.equal(s.busi.calls.length + resumeAnswers.length, 0, 'no callbacks');
});

t.test('workflow: rollback — a step FAILURE rolls back the earlier branches in reverse, submit failed', async (t) => {
  const name = 'wf-rollback';
  const ran: string[] = [];
  registry.register(
    name,
    async (wf) => {
      await wf
        .newBranch()
        .onRollback(async (b) => {
          ran.push(`undo ${b.branchId} ${b.op}`);
        })
        .do(async () => {
          ran.push('step1');
        });
      await wf
        .newBranch()
        .onRollback(async (b) => {
          ran.push(`undo ${b.branchId}`);
        })
        .do(async () => {
          ran.push('step2');
        });
      await wf
        .newBranch()
        .onRollback(async () => {
          ran.push('undo 03');
        })
        .do(async () => {
          ran.push('step3');
          throw new FailureError('no stock');
        });
      ran.push('not reached');
    },
    { resumeUrl },
  );
  const gid = gidOf(t.name);
  await t.rejects(registry.execute(s.dtm.dtm, name, gid), { name: 'FailureError', message: 'no stock' }, 'execute throws the FailureError');
  t.strictSame(ran, ['step1', 'step2', 'step3', 'undo 02', 'undo 01 rollback'], 'rollbacks of 02 and 01 in reverse; the failed 03 is not rolled back');
  const q = await s.dtm.query(gid);
  t.match(q.transaction, { status: 'failed', rollback_reason: 'no stock' }, 'failed with the reason');
  t.strictSame(
    await progress(gid),
    ['01-action:succeed:', '02-action:succeed:', '03-action:failed:no stock', '02-rollback:succeed:', '01-rollback:succeed:'],
    'progress recorded',
  );
  ran.length = 0;
  await t.rejects(registry.execute(s.dtm.dtm, name, gid), { name: 'FailureError', message: 'no stock' }, 'a failed workflow throws again');
  t.strictSame(ran, [], 'without running anything');
});

t.test('workflow: compensateErrorBranch also rolls back the failed branch', async (t) => {
  const name = 'wf-compensate-error';
  const ran: string[] = [];
  registry.register(
    name,
    async (wf) => {
      await wf
        .newBranch()
        .onRollback(async () => void ran.push('undo 01'))
        .do(async () => void ran.push('step1'));
      await wf
        .newBranch()
        .onRollback(async () => void ran.push('undo 02'))
        .do(() => Promise.reject(new FailureError('timeout, maybe done')));
    },
    { resumeUrl, compensateErrorBranch: true },
  );
  const gid = gidOf(t.name);
  await t.rejects(registry.execute(s.dtm.dtm, name, gid), FailureError, 'fails');
  t.strictSame(ran, ['step1', 'undo 02', 'undo 01'], 'the failed branch is rolled back first');
});

function crashingWorkflow(name: string, opts: { crash: () => boolean; ran: string[]; inputs: string[] }): void {
  registry.register(
    name,
    async (wf, input) => {
      opts.inputs.push(input.toString());
      const a = await wf
        .newBranch()
        .onRollback(async () => void opts.ran.push('undo1'))
        .do(async () => {
          opts.ran.push('step1');
          return 'one';
        });
      if (opts.crash()) throw new Error('process crashed');
      const b = await wf.newBranch().do(async () => {
        opts.ran.push('step2');
        return 'two';
      });
      return `${a.toString()}-${b.toString()}`;
    },
    { resumeUrl },
  );
}

t.test('workflow: resume after a crash by executing again — step 1 is replayed, not re-run', async (t) => {
  const name = 'wf-crash-execute';
  const ran: string[] = [];
  const inputs: string[] = [];
  let crashes = 1;
  crashingWorkflow(name, { crash: () => crashes-- > 0, ran, inputs });
  const gid = gidOf(t.name);
  await t.rejects(registry.execute(s.dtm.dtm, name, gid, 'input-1'), { message: 'process crashed' }, 'the first run dies after step 1');
  t.equal((await s.dtm.query(gid)).transaction.status, 'prepared', 'the workflow stays prepared');
  t.strictSame(await progress(gid), ['01-action:succeed:one'], 'step 1 is recorded');
  const result = await registry.execute(s.dtm.dtm, name, gid);
  t.equal(result.toString(), 'one-two', "the second run finishes, with step 1's recorded result");
  t.strictSame(inputs, ['input-1', 'input-1'], 'executed again without input, it gets the stored input');
  t.strictSame(ran, ['step1', 'step2'], 'step 1 ran once, step 2 once');
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', 'succeed');
});

t.test("workflow: resume after a crash through the coordinator's resume call", async (t) => {
  const name = 'wf-crash-resume';
  const ran: string[] = [];
  const inputs: string[] = [];
  let crashes = 1;
  crashingWorkflow(name, { crash: () => crashes-- > 0, ran, inputs });
  const gid = gidOf(t.name);
  await t.rejects(registry.execute(s.dtm.dtm, name, gid, '{"amount":7}'), { message: 'process crashed' }, 'the first run dies after step 1');
  s.dtm.clock.advance(10_001);
  await s.dtm.app.poller.tick();
  const q = await s.dtm.waitStatus(gid, 'succeed');
  t.equal(Buffer.from(q.transaction.result as string, 'base64').toString(), 'one-two', 'the resumed run stored the result');
  t.strictSame(ran, ['step1', 'step2'], 'step 1 ran once, step 2 once');
  t.strictSame(inputs, ['{"amount":7}', '{"amount":7}'], 'the resume call carried the original input');
  t.strictSame(resumeAnswers.splice(0), [200], 'the resume endpoint answered 200');
});

t.test('workflow: a transient step error is not recorded; the step runs again on resume', async (t) => {
  const name = 'wf-transient';
  let attempts = 0;
  registry.register(
    name,
    async (wf) => {
      await wf.newBranch().do(async () => {
        attempts += 1;
        if (attempts === 1) throw new OngoingError('not yet');
        return 'done';
      });
    },
    { resumeUrl },
  );
  const gid = gidOf(t.name);
  await t.rejects(registry.execute(s.dtm.dtm, name, gid), OngoingError, 'the first run stops on the ONGOING step');
  t.strictSame(await progress(gid), [], 'nothing recorded');
  await registry.execute(s.dtm.dtm, name, gid);
  t.equal(attempts, 2, 'the step ran again');
  t.strictSame(await progress(gid), ['01-action:succeed:done'], 'recorded once it succeeded');
});

t.test('workflow: a progress the coordinator refuses (another run finished it) stops the run without rollbacks', async (t) => {
  const name = 'wf-finished-elsewhere';
  const ran: string[] = [];
  registry.register(
    name,
    async (wf) => {
      await wf
        .newBranch()
        .onRollback(async () => void ran.push('undo1'))
        .do(async () => void ran.push('step1'));
      await wf.newBranch().do(async () => {
        // Another runner submits the workflow meanwhile.
        await s.dtm.post('submit', { gid: wf.gid, trans_type: 'workflow', req_extra: { status: 'succeed' } });
        ran.push('step2');
      });
    },
    { resumeUrl },
  );
  const gid = gidOf(t.name);
  await t.rejects(
    registry.execute(s.dtm.dtm, name, gid),
    { name: 'DtmClientError', message: /^recording 02-action failed/ },
    'a DtmClientError, not a FailureError',
  );
  t.strictSame(ran, ['step1', 'step2'], 'no rollback ran');
  t.equal((await s.dtm.query(gid)).transaction.status, 'succeed', "the other run's outcome stands");
});

t.test('workflow: API guards', async (t) => {
  const name = 'wf-guards';
  registry.register(
    name,
    async (wf) => {
      const b = wf.newBranch();
      await b.do(async () => undefined);
      await t.rejects(
        b.do(async () => undefined),
        { message: /only one action/ },
        'one action per branch',
      );
      t.throws(() => b.onCommit(async () => undefined).onCommit(async () => undefined), { message: /one commit/ }, 'one commit per branch');
      await wf
        .newBranch()
        .onCommit(async () => {
          t.throws(() => wf.newBranch(), { message: /newBranch\(\) in branch callbacks/ }, 'no newBranch in phase 2');
        })
        .do(async () => undefined);
    },
    { resumeUrl },
  );
  t.throws(() => registry.register(name, async () => undefined, { resumeUrl }), { message: /already exists/ }, 'a name registers once');
  await registry.execute(s.dtm.dtm, name, gidOf(t.name));
  await t.rejects(registry.execute(s.dtm.dtm, 'nope', gidOf(t.name)), { message: /not registered/ }, 'unknown workflow');
  await t.rejects(registry.resume({ gid: 'x' }), { message: /op/ }, 'resume needs op');
  await t.rejects(registry.resume({ gid: 'x', op: name }), { message: /no coordinator/ }, 'resume needs a coordinator');
});

t.test('workflow: the module-level default registry', async (t) => {
  const name = `wf-default-${process.pid}`;
  let runs = 0;
  registerWorkflow(
    name,
    async (wf, input) => {
      runs += 1;
      return wf.newBranch().do(async () => input);
    },
    { resumeUrl, dtm: s.dtm.dtm },
  );
  const gid = gidOf(t.name);
  t.equal((await executeWorkflow(s.dtm.dtm, name, gid, 'hello')).toString(), 'hello', 'executeWorkflow');
  t.equal(
    (await workflowResumeHandler({ op: name, gid, trans_type: 'workflow', branch_id: '00' })).toString(),
    'hello',
    'workflowResumeHandler uses the registered dtm and returns the stored result',
  );
  t.equal(runs, 1, 'the finished workflow did not run again');
});
