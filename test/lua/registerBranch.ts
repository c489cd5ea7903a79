import t from 'tap';
import { pack } from '../../src/codec.js';
import { raw, seed, snapshot, startStoreHarness, T0, type StoreHarness } from '../fixtures/store.js';
import type { RegisteredBranch } from '../../src/store/trans-scripts.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('registerBranch');
});
t.teardown(async () => {
  await h.redis.stop();
});

const tccPair = (id: string): RegisteredBranch[] => [
  { branch_id: id, op: 'cancel', url: `http://busi/c${id}`, data: `d${id}`, status: 'prepared' },
  { branch_id: id, op: 'confirm', url: `http://busi/f${id}`, data: `d${id}`, status: 'prepared' },
];

t.test('appends branches to a prepared transaction, in order, with their status codes', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rb-happy', 'prepared', { trans_type: 'tcc', branches: [] });
  h.clock.set(T0 + 100);
  t.strictSame(await h.store.registerBranch('rb-happy', tccPair('01')), { tag: 'OK' }, 'first pair');
  t.strictSame(await h.store.registerBranch('rb-happy', tccPair('02')), { tag: 'OK' }, 'second pair');
  const rec = await h.client.hgetall(h.keys.trans('rb-happy'));
  t.match(rec, { n: '4', bs: 'pppp', ut: String(T0 + 100), 'u:01|cancel': '1', 'u:02|confirm': '1' }, 'count, statuses, update time, registered keys');
  const trans = await h.store.getTrans('rb-happy');
  t.strictSame(
    trans?.branches.map((b) => [b.branch_id, b.op, b.url, b.data, b.status]),
    [
      ['01', 'cancel', 'http://busi/c01', 'd01', 'prepared'],
      ['01', 'confirm', 'http://busi/f01', 'd01', 'prepared'],
      ['02', 'cancel', 'http://busi/c02', 'd02', 'prepared'],
      ['02', 'confirm', 'http://busi/f02', 'd02', 'prepared'],
    ],
    'decoded in registration order',
  );
  t.equal(await h.client.ttl(h.keys.trans('rb-happy')), -1, 'no TTL while unfinished');
});

t.test('workflow progress is stored final at once, with its change time', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rb-wf', 'prepared', { trans_type: 'workflow', branches: [] });
  h.clock.set(T0 + 5);
  t.strictSame(await h.store.registerBranch('rb-wf', [{ branch_id: '01', op: 'action', url: '', data: 'abc', status: 'succeed' }]), { tag: 'OK' }, 'OK');
  t.match(await h.client.hgetall(h.keys.trans('rb-wf')), { bs: 's', t1: String(T0 + 5) }, 'succeed with a time');
});

t.test('guards: missing → NOT_FOUND, not prepared → STALE, a repeated first (branch_id, op) → DUP; none writes', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rb-sub', 'submitted', { trans_type: 'tcc', branches: [] });
  await seed(h, 'rb-dup', 'prepared', { trans_type: 'tcc', branches: [] });
  await h.store.registerBranch('rb-dup', tccPair('01'));
  const before = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.registerBranch('rb-none', tccPair('01')), { tag: 'NOT_FOUND' }, 'missing');
  t.strictSame(await h.store.registerBranch('rb-sub', tccPair('01')), { tag: 'STALE', current: 'submitted' }, 'not prepared');
  t.strictSame(await h.store.registerBranch('rb-dup', tccPair('01')), { tag: 'DUP' }, 'duplicate (replay of the same registration)');
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seed(h, 'rb-bad', 'prepared', { trans_type: 'tcc', branches: [] });
  const call = raw(h.client, 'registerBranch');
  const key = h.keys.trans('rb-bad');
  const blob = pack(['01', 'cancel', '', '']);
  const rows: { name: string; args: (string | Buffer)[] }[] = [
    { name: 'now not a number', args: [key, 'rb-bad', 'x', '01|cancel', blob, '01|cancel', 'p'] },
    { name: 'no branches', args: [key, 'rb-bad', String(T0), '01|cancel'] },
    { name: 'an incomplete triple', args: [key, 'rb-bad', String(T0), '01|cancel', blob, '01|cancel'] },
    { name: 'a bad status code', args: [key, 'rb-bad', String(T0), '01|cancel', blob, '01|cancel', 'x'] },
  ];
  const before = await snapshot(h.client, h.keys);
  for (const row of rows) {
    await t.rejects(call(...row.args), { message: /DTM_ARGS/ }, `${row.name}: DTM_ARGS`);
  }
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});
