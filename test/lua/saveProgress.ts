import t from 'tap';
import { pack } from '../../src/codec.js';
import type { TransStatus } from '../../src/types.js';
import { commandsRun, fields, raw, seed, snapshot, startStoreHarness, T0, zscore, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('saveProgress');
});
t.teardown(async () => {
  await h.redis.stop();
});

/** Raw saveProgress arguments for `gid` (KEYS then ARGV); `argv` overrides by ARGV index. */
function rawArgs(gid: string, argv: Record<number, string | Buffer> = {}, updates: string[] = []): (string | Buffer)[] {
  const base: (string | Buffer)[] = [gid, 'submitted', String(T0 + 1000), '', '', '', '', ''];
  for (const [i, v] of Object.entries(argv)) base[Number(i) - 1] = v;
  return [h.keys.trans(gid), h.keys.due(h.keys.bucketOf(gid)), ...base, ...updates];
}

t.test('records branch results, the next cron time, interval and retry count', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-happy', 'submitted');
  h.clock.set(T0 + 1000);
  const out = await h.store.saveProgress('sp-happy', 'submitted', {
    branchUpdates: [
      [0, 'succeed'],
      [2, 'failed'],
    ],
    nextCronTime: T0 + 5000,
    nextCronInterval: 20,
    retryCount: 1,
  });
  t.strictSame(out, { tag: 'OK' }, 'OK');
  t.strictSame(
    await fields(h.client, h.keys.trans('sp-happy'), 's', 'bs', 't1', 't2', 't3', 'ut', 'nct', 'nci', 'rc', 'ft', 'rt'),
    {
      s: 'submitted',
      bs: 'spf',
      t1: String(T0 + 1000),
      t2: null,
      t3: String(T0 + 1000),
      ut: String(T0 + 1000),
      nct: String(T0 + 5000),
      nci: '20',
      rc: '1',
      ft: null,
      rt: null,
    },
    'branch codes and times, schedule fields; the global status is untouched',
  );
  t.equal(await zscore(h.client, h.keys.due(h.keys.bucketOf('sp-happy')), 'sp-happy'), T0 + 5000, 'rescheduled');
  t.equal(await h.client.pttl(h.keys.trans('sp-happy')), -1, 'no TTL');
  t.match(
    await h.store.getTrans('sp-happy'),
    {
      status: 'submitted',
      update_time: T0 + 1000,
      next_cron_time: T0 + 5000,
      next_cron_interval: 20,
      retry_count: 1,
      branches: [
        { status: 'succeed', finish_time: T0 + 1000 },
        { status: 'prepared', finish_time: undefined },
        { status: 'failed', finish_time: T0 + 1000 },
      ],
    },
    'getTrans decodes the progress',
  );
});

t.test('attempt records and retries: written with the progress, an empty error keeping the last one', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-attempts', 'submitted');
  await h.store.saveProgress('sp-attempts', 'submitted', {
    attempts: [{ index: 1, attempts: 1, lastAttemptTime: T0 + 10, lastError: 'ERROR (HTTP 500): boom' }],
    retries: 1,
  });
  t.strictSame(
    await fields(h.client, h.keys.trans('sp-attempts'), 'a2', 'la2', 'e2', 'nr', 'bs'),
    { a2: '1', la2: String(T0 + 10), e2: 'ERROR (HTTP 500): boom', nr: '1', bs: 'ppp' },
    'attempts, time, error and retries; no status change',
  );
  await h.store.saveProgress('sp-attempts', 'submitted', {
    branchUpdates: [[1, 'succeed']],
    attempts: [{ index: 1, attempts: 2, lastAttemptTime: T0 + 20, lastError: '' }],
  });
  t.strictSame(
    await fields(h.client, h.keys.trans('sp-attempts'), 'a2', 'la2', 'e2', 'nr', 'bs'),
    { a2: '2', la2: String(T0 + 20), e2: 'ERROR (HTTP 500): boom', nr: '1', bs: 'psp' },
    'the success: two attempts, the last error kept, retries unchanged',
  );
  t.match((await h.store.getTrans('sp-attempts'))!.branches[1], { attempts: 2, last_attempt_time: T0 + 20, last_error: 'ERROR (HTTP 500): boom' }, 'decoded');
});

t.test('an empty progress only touches the update time and keeps the schedule', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-empty', 'submitted');
  h.clock.set(T0 + 2000);
  t.strictSame(await h.store.saveProgress('sp-empty', 'submitted', {}), { tag: 'OK' }, 'OK');
  t.strictSame(
    await fields(h.client, h.keys.trans('sp-empty'), 'ut', 'bs', 'nct', 'nci', 'rc'),
    { ut: String(T0 + 2000), bs: 'ppp', nct: String(T0 + 10_000), nci: '10', rc: null },
    'only ut changed',
  );
  t.equal(await zscore(h.client, h.keys.due(h.keys.bucketOf('sp-empty')), 'sp-empty'), T0 + 10_000, 'schedule kept');
});

t.test('a branch can go back to prepared and a later result overwrites its time', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-again', 'aborting');
  h.clock.set(T0 + 100);
  await h.store.saveProgress('sp-again', 'aborting', { branchUpdates: [[1, 'failed']] });
  h.clock.set(T0 + 200);
  await h.store.saveProgress('sp-again', 'aborting', { branchUpdates: [[1, 'prepared']] });
  t.strictSame(await fields(h.client, h.keys.trans('sp-again'), 'bs', 't2'), { bs: 'ppp', t2: String(T0 + 200) }, 'latest code and time');
});

t.test('a missing transaction is NOT_FOUND and nothing is created', async (t) => {
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.saveProgress('sp-missing', 'submitted', { nextCronTime: T0, branchUpdates: [[0, 'succeed']] }), { tag: 'NOT_FOUND' }, 'NOT_FOUND');
  t.strictSame(await snapshot(h.client, h.keys), before, 'no record and no schedule entry');
});

t.test('another status than the expected one is STALE with the current status, and nothing is written', async (t) => {
  const rows: { current: TransStatus; expected: TransStatus }[] = [
    { current: 'prepared', expected: 'submitted' },
    { current: 'submitted', expected: 'prepared' },
    { current: 'submitted', expected: 'aborting' },
    { current: 'aborting', expected: 'submitted' },
    { current: 'succeed', expected: 'submitted' },
    { current: 'failed', expected: 'aborting' },
  ];
  for (const row of rows) {
    const gid = `sp-stale-${row.current}-${row.expected}`;
    h.clock.set(T0);
    await seed(h, gid, row.current);
    const before = await snapshot(h.client, h.keys);
    h.clock.set(T0 + 500);
    const out = await h.store.saveProgress(gid, row.expected, { branchUpdates: [[0, 'succeed']], nextCronTime: T0 + 1, nextCronInterval: 1, retryCount: 9 });
    t.strictSame(out, { tag: 'STALE', current: row.current }, `${row.current} expected as ${row.expected}: STALE ${row.current}`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.current} expected as ${row.expected}: nothing written`);
  }
});

t.test('replaying the same progress answers OK again with the same end state', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-replay', 'submitted');
  h.clock.set(T0 + 300);
  const input = { branchUpdates: [[1, 'succeed']] as const, nextCronTime: T0 + 20_000, nextCronInterval: 20, retryCount: 1 };
  t.strictSame(await h.store.saveProgress('sp-replay', 'submitted', input), { tag: 'OK' }, 'first: OK');
  const once = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.saveProgress('sp-replay', 'submitted', input), { tag: 'OK' }, 'replay: OK');
  t.strictSame(await snapshot(h.client, h.keys), once, 'same end state');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-bad', 'submitted');
  const rows: { name: string; args: (string | Buffer)[] }[] = [
    { name: 'expected status unknown', args: rawArgs('sp-bad', { 2: 'done' }) },
    { name: 'now not a number', args: rawArgs('sp-bad', { 3: 'x' }) },
    { name: 'next cron NaN', args: rawArgs('sp-bad', { 4: 'NaN' }) },
    { name: 'next cron inf', args: rawArgs('sp-bad', { 4: 'inf' }) },
    { name: 'interval not a number', args: rawArgs('sp-bad', { 5: 'ten' }) },
    { name: 'retry count not a number', args: rawArgs('sp-bad', { 6: 'once' }) },
    { name: 'retries not a number', args: rawArgs('sp-bad', { 7: 'twice' }) },
    { name: 'attempts not msgpack', args: rawArgs('sp-bad', { 8: 'zz' }) },
    { name: 'attempt record for branch 0', args: rawArgs('sp-bad', { 8: pack([[0, 1, T0, 'e']]) }) },
    { name: 'attempt record past the last branch', args: rawArgs('sp-bad', { 8: pack([[4, 1, T0, 'e']]) }) },
    { name: 'attempt record with 0 attempts', args: rawArgs('sp-bad', { 8: pack([[1, 0, T0, 'e']]) }) },
    { name: 'attempt record without an error text', args: rawArgs('sp-bad', { 8: pack([[1, 1, T0]]) }) },
    { name: 'branch index 0', args: rawArgs('sp-bad', {}, ['0', 's']) },
    { name: 'branch index past the last branch', args: rawArgs('sp-bad', {}, ['4', 's']) },
    { name: 'branch index fractional', args: rawArgs('sp-bad', {}, ['1.5', 's']) },
    { name: 'branch index not a number', args: rawArgs('sp-bad', {}, ['one', 's']) },
    { name: 'branch status code unknown', args: rawArgs('sp-bad', {}, ['1', 'x']) },
    { name: 'branch status code missing', args: rawArgs('sp-bad', {}, ['1', 's', '2']) },
    // A bad pair after a good one: the good one must not be applied either.
    { name: 'good pair then bad pair', args: rawArgs('sp-bad', { 4: String(T0 + 1) }, ['1', 's', '2', 'z']) },
  ];
  const call = raw(h.client, 'saveProgress');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
});

t.test('through the store a bad argument is a StoreContractError', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-bad-store', 'submitted');
  const before = await snapshot(h.client, h.keys);
  await t.rejects(
    h.store.saveProgress('sp-bad-store', 'submitted', { branchUpdates: [[7, 'succeed']] }),
    { name: 'StoreContractError', message: /DTM_ARGS/ },
    'an out-of-range branch index',
  );
  await t.rejects(
    h.store.saveProgress('sp-bad-store', 'submitted', { nextCronTime: Number.POSITIVE_INFINITY }),
    { name: 'StoreContractError', message: /DTM_ARGS/ },
    'an infinite next cron time',
  );
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('progress reads what its guard needs in one HMGET', async (t) => {
  h.clock.set(T0);
  await seed(h, 'sp-commands', 'submitted');
  const ran = await commandsRun(h.client, async () => {
    const out = await h.store.saveProgress('sp-commands', 'submitted', { branchUpdates: [[0, 'succeed']], nextCronTime: T0 + 5000 });
    t.strictSame(out, { tag: 'OK' }, 'saved');
  });
  t.strictSame(ran, { evalsha: 1, hmget: 1, hset: 1, zadd: 1 }, 'these commands and no other');
  t.strictSame(await fields(h.client, h.keys.trans('sp-commands'), 'bs'), { bs: 'spp' }, 'the branch status string it read was updated');
});
