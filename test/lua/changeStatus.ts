import t from 'tap';
import type { ChangeStatusInput } from '../../src/store/trans-scripts.js';
import type { TransStatus } from '../../src/types.js';
import { commandsRun, fields, FINISHED_TTL_S, raw, seed, snapshot, startStoreHarness, T0, zscore, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('changeStatus');
});
t.teardown(async () => {
  await h.redis.stop();
});

const NOW = T0 + 1000;

/** Raw changeStatus arguments for `gid` (KEYS then ARGV); `argv` overrides by ARGV index. */
function rawArgs(gid: string, argv: Record<number, string> = {}, updates: string[] = [], length = 11): string[] {
  const base = [gid, 'submitted', 'succeed', String(NOW), '', String(FINISHED_TTL_S), '', '', '', '', ''];
  for (const [i, v] of Object.entries(argv)) base[Number(i) - 1] = v;
  return [
    h.keys.trans(gid),
    h.keys.due(h.keys.bucketOf(gid)),
    h.keys.fin(h.keys.bucketOf(gid)),
    h.keys.stats(h.keys.bucketOf(gid)),
    ...base.slice(0, length),
    ...updates,
  ];
}

interface Row {
  name: string;
  from: TransStatus;
  to: TransStatus;
  input: ChangeStatusInput;
  /** HASH fields expected after the change (null: absent). */
  hash: Record<string, string | null>;
  /** Expected `due` score after the change (null: unscheduled). */
  due: number | null;
}

const rows: Row[] = [
  {
    name: 'submitted → succeed with the last branch result',
    from: 'submitted',
    to: 'succeed',
    input: { branchUpdates: [[2, 'succeed']] },
    hash: { s: 'succeed', ut: String(NOW), ft: String(NOW), rt: null, bs: 'pps', t3: String(NOW), rr: null, res: null },
    due: null,
  },
  {
    name: 'submitted → failed',
    from: 'submitted',
    to: 'failed',
    input: {},
    hash: { s: 'failed', ut: String(NOW), ft: null, rt: String(NOW), bs: 'ppp', t3: null, rr: null, res: null },
    due: null,
  },
  {
    name: 'submitted → aborting with a reason and a new schedule',
    from: 'submitted',
    to: 'aborting',
    input: { rollbackReason: 'branch 02 failed', nextCronTime: NOW + 3000, nextCronInterval: 3, branchUpdates: [[1, 'failed']] },
    hash: { s: 'aborting', ut: String(NOW), ft: null, rt: null, bs: 'pfp', t2: String(NOW), rr: 'branch 02 failed', nct: String(NOW + 3000), nci: '3' },
    due: NOW + 3000,
  },
  {
    name: 'aborting → failed with compensations recorded',
    from: 'aborting',
    to: 'failed',
    input: { branchUpdates: [[0, 'succeed']], nextCronTime: NOW + 9999 },
    hash: { s: 'failed', ut: String(NOW), rt: String(NOW), bs: 'spp', t1: String(NOW), nct: String(T0 + 10_000) },
    due: null,
  },
  {
    name: 'prepared → submitted keeps the schedule unless told',
    from: 'prepared',
    to: 'submitted',
    input: {},
    hash: { s: 'submitted', ut: String(NOW), nct: String(T0 + 10_000), nci: '10', ft: null, rt: null },
    due: T0 + 10_000,
  },
  {
    name: 'prepared → failed (a message whose check said FAILURE)',
    from: 'prepared',
    to: 'failed',
    input: { rollbackReason: 'query prepared: FAILURE' },
    hash: { s: 'failed', rt: String(NOW), rr: 'query prepared: FAILURE' },
    due: null,
  },
  {
    name: 'submitted → succeed with a workflow result',
    from: 'submitted',
    to: 'succeed',
    input: { result: '{"ok":true}' },
    hash: { s: 'succeed', ft: String(NOW), res: '{"ok":true}' },
    due: null,
  },
];

t.test('each allowed change writes status, times, branch codes and schedule', async (t) => {
  for (const [i, row] of rows.entries()) {
    const gid = `cs-ok-${i}`;
    h.clock.set(T0);
    await seed(h, gid, row.from);
    h.clock.set(NOW);
    t.strictSame(await h.store.changeStatus(gid, row.from, row.to, row.input), { tag: 'OK' }, `${row.name}: OK`);
    t.strictSame(await fields(h.client, h.keys.trans(gid), ...Object.keys(row.hash)), row.hash, `${row.name}: record fields`);
    t.equal(await zscore(h.client, h.keys.due(h.keys.bucketOf(gid)), gid), row.due, `${row.name}: due score`);
    t.equal(await zscore(h.client, h.keys.idx(h.keys.bucketOf(gid)), gid), T0, `${row.name}: stays in the listing index`);
    const ttl = await h.client.ttl(h.keys.trans(gid));
    if (row.to === 'succeed' || row.to === 'failed') {
      t.ok(ttl > 0 && ttl <= FINISHED_TTL_S, `${row.name}: finished record expires (TTL ${ttl} s)`);
    } else {
      t.equal(ttl, -1, `${row.name}: unfinished record has no TTL`);
    }
    t.match(
      await h.store.getTrans(gid),
      {
        status: row.to,
        update_time: NOW,
        finish_time: row.to === 'succeed' ? NOW : undefined,
        rollback_time: row.to === 'failed' ? NOW : undefined,
        rollback_reason: row.input.rollbackReason ?? '',
        result: row.input.result ?? '',
      },
      `${row.name}: getTrans`,
    );
  }
});

t.test('an expected trans_type must match too; a mismatch is STALE with the current status and writes nothing', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-type-msg', 'prepared', { trans_type: 'msg' });
  await seed(h, 'cs-type-tcc', 'prepared', { trans_type: 'tcc' });
  const before = await snapshot(h.client, h.keys);
  t.strictSame(
    await h.store.changeStatus('cs-type-tcc', 'prepared', 'failed', { expectedType: 'msg' }),
    { tag: 'STALE', current: 'prepared' },
    'tcc is not msg: STALE',
  );
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
  t.strictSame(await h.store.changeStatus('cs-type-msg', 'prepared', 'failed', { expectedType: 'msg' }), { tag: 'OK' }, 'msg: OK');
  t.equal(await h.client.hget(h.keys.trans('cs-type-msg'), 's'), 'failed');
  t.strictSame(
    await h.store.changeStatus('cs-type-msg', 'prepared', 'failed', { expectedType: 'msg' }),
    { tag: 'STALE', current: 'failed' },
    'the status guard still applies',
  );
});

t.test('a missing transaction is NOT_FOUND and nothing is created', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.changeStatus('cs-missing', 'submitted', 'succeed', {}), { tag: 'NOT_FOUND' }, 'NOT_FOUND');
  t.strictSame(await h.store.changeStatus('cs-missing', 'submitted', 'aborting', { nextCronTime: NOW }), { tag: 'NOT_FOUND' }, 'NOT_FOUND with a schedule');
  t.strictSame(await snapshot(h.client, h.keys), before, 'no record, no schedule entry');
});

t.test('another status than the expected one is STALE with the current status, and nothing is written', async (t) => {
  const stale: { current: TransStatus; expected: TransStatus; to: TransStatus }[] = [
    { current: 'prepared', expected: 'submitted', to: 'succeed' },
    { current: 'submitted', expected: 'prepared', to: 'submitted' },
    { current: 'aborting', expected: 'submitted', to: 'succeed' },
    { current: 'succeed', expected: 'submitted', to: 'succeed' },
    { current: 'succeed', expected: 'aborting', to: 'failed' },
    { current: 'failed', expected: 'aborting', to: 'failed' },
    { current: 'failed', expected: 'prepared', to: 'failed' },
  ];
  for (const row of stale) {
    const gid = `cs-stale-${row.current}-${row.expected}-${row.to}`;
    h.clock.set(T0);
    await seed(h, gid, row.current);
    const before = await snapshot(h.client, h.keys);
    h.clock.set(NOW);
    t.strictSame(
      await h.store.changeStatus(gid, row.expected, row.to, { branchUpdates: [[0, 'succeed']], nextCronTime: NOW, rollbackReason: 'r' }),
      { tag: 'STALE', current: row.current },
      `${row.current} expected as ${row.expected}: STALE ${row.current}`,
    );
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.current} expected as ${row.expected}: nothing written`);
  }
});

t.test('leaving a final status is a DTM_STATE error and nothing is written', async (t) => {
  for (const from of ['succeed', 'failed'] as const) {
    const gid = `cs-final-${from}`;
    h.clock.set(T0);
    await seed(h, gid, from);
    const before = await snapshot(h.client, h.keys);
    h.clock.set(NOW);
    await t.rejects(h.store.changeStatus(gid, from, 'submitted', {}), { name: 'StoreContractError', message: /DTM_STATE/ }, `${from} → submitted: DTM_STATE`);
    await t.rejects(raw(h.client, 'changeStatus')(...rawArgs(gid, { 2: from, 3: from })), { message: /^DTM_STATE / }, `${from} → ${from}: DTM_STATE`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${from}: nothing written`);
  }
});

t.test('replaying a finishing change answers STALE with the target status and leaves the same end state', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-replay', 'submitted');
  h.clock.set(NOW);
  const input: ChangeStatusInput = { branchUpdates: [[0, 'succeed']] };
  t.strictSame(await h.store.changeStatus('cs-replay', 'submitted', 'succeed', input), { tag: 'OK' }, 'first: OK');
  const once = await snapshot(h.client, h.keys);
  h.clock.set(NOW + 5000);
  t.strictSame(
    await h.store.changeStatus('cs-replay', 'submitted', 'succeed', input),
    { tag: 'STALE', current: 'succeed' },
    'replay: STALE succeed, which the caller reads as done',
  );
  t.strictSame(await snapshot(h.client, h.keys), once, 'the replay wrote nothing (finish time and TTL kept)');
  t.equal((await h.store.getTrans('cs-replay'))?.finish_time, NOW, 'finish time is the first call');
});

t.test('replaying a non-final change to the same status answers OK with the same end state', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-replay-same', 'aborting');
  h.clock.set(NOW);
  const input: ChangeStatusInput = { nextCronTime: NOW + 100, nextCronInterval: 20 };
  t.strictSame(await h.store.changeStatus('cs-replay-same', 'aborting', 'aborting', input), { tag: 'OK' }, 'first: OK');
  const once = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.changeStatus('cs-replay-same', 'aborting', 'aborting', input), { tag: 'OK' }, 'replay: OK');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-bad', 'submitted');
  const bad: { name: string; args: string[] }[] = [
    { name: 'expected status unknown', args: rawArgs('cs-bad', { 2: 'running' }) },
    { name: 'new status unknown', args: rawArgs('cs-bad', { 3: 'done' }) },
    { name: 'now not a number', args: rawArgs('cs-bad', { 4: 'now' }) },
    { name: 'now NaN', args: rawArgs('cs-bad', { 4: 'NaN' }) },
    { name: 'ttl not a number', args: rawArgs('cs-bad', { 6: 'day' }) },
    { name: 'ttl fractional', args: rawArgs('cs-bad', { 6: '1.5' }) },
    { name: 'ttl zero', args: rawArgs('cs-bad', { 6: '0' }) },
    { name: 'ttl negative', args: rawArgs('cs-bad', { 6: '-1' }) },
    { name: 'next cron not a number', args: rawArgs('cs-bad', { 3: 'aborting', 7: 'later' }) },
    { name: 'next cron NaN', args: rawArgs('cs-bad', { 3: 'aborting', 7: 'nan' }) },
    { name: 'interval not a number', args: rawArgs('cs-bad', { 8: 'x' }) },
    { name: 'result missing', args: rawArgs('cs-bad', {}, [], 8) },
    { name: 'expected type missing', args: rawArgs('cs-bad', {}, [], 9) },
    { name: 'attempts missing', args: rawArgs('cs-bad', {}, [], 10) },
    { name: 'attempts not msgpack', args: rawArgs('cs-bad', { 11: 'nope' }) },
    { name: 'branch index past the last branch', args: rawArgs('cs-bad', {}, ['9', 's']) },
    { name: 'branch status code unknown', args: rawArgs('cs-bad', {}, ['1', 'ok']) },
    { name: 'good pair then bad pair', args: rawArgs('cs-bad', {}, ['1', 's', '2']) },
  ];
  const call = raw(h.client, 'changeStatus');
  for (const row of bad) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  t.equal(await h.client.hget(h.keys.trans('cs-bad'), 's'), 'submitted', 'still submitted');
});

t.test('through the store a bad argument is a StoreContractError', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-bad-store', 'submitted');
  const before = await snapshot(h.client, h.keys);
  await t.rejects(
    h.store.changeStatus('cs-bad-store', 'submitted', 'succeed', { branchUpdates: [[-1, 'succeed']] }),
    { name: 'StoreContractError', message: /DTM_ARGS/ },
    'a negative branch index',
  );
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('a finish reads what its guards need in one HMGET, and writes each key once', async (t) => {
  h.clock.set(T0);
  await seed(h, 'cs-commands', 'prepared', { trans_type: 'msg' });
  h.clock.set(NOW);
  const ran = await commandsRun(h.client, async () => {
    t.strictSame(await h.store.changeStatus('cs-commands', 'prepared', 'failed', { expectedType: 'msg' }), { tag: 'OK' }, 'a type-guarded abort');
  });
  t.strictSame(ran, { evalsha: 1, hmget: 1, hset: 1, hincrby: 1, zrem: 1, pexpireat: 1, zadd: 1 }, 'these commands and no other');
  t.strictSame(
    await h.store.changeStatus('cs-commands', 'prepared', 'failed', { expectedType: 'msg' }),
    { tag: 'STALE', current: 'failed' },
    'the guard still holds',
  );
});
