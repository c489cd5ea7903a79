import t from 'tap';
import { unpack } from '../../src/codec.js';
import { encodeRequest } from '../../src/store/request-blob.js';
import type { NewTrans } from '../../src/store/trans-scripts.js';
import type { Trans, TransStatus } from '../../src/types.js';
import {
  branches,
  commandsRun,
  fields,
  FINISHED_TTL_S,
  newTrans,
  raw,
  request,
  seed,
  snapshot,
  startStoreHarness,
  T0,
  zscore,
  type StoreHarness,
} from '../fixtures/store.js';

let h: StoreHarness;
t.before(async () => {
  h = await startStoreHarness('createTrans');
});
t.teardown(async () => {
  await h.redis.stop();
});

/** What getTrans must decode for `nt` created at `createdAt` and never changed since. */
function expected(nt: NewTrans, createdAt: number): Trans {
  return {
    gid: nt.gid,
    trans_type: nt.trans_type,
    status: nt.status,
    create_time: createdAt,
    update_time: createdAt,
    finish_time: undefined,
    rollback_time: undefined,
    next_cron_time: nt.next_cron_time,
    scheduled_time: nt.next_cron_time,
    next_cron_interval: nt.next_cron_interval,
    rollback_reason: '',
    retry_count: 0,
    retries: 0,
    result: '',
    req: nt.req,
    branches: nt.branches.map((b) => ({ ...b, status: 'prepared', finish_time: undefined, attempts: 0, last_attempt_time: undefined, last_error: '' })),
  };
}

/** Raw createTrans arguments (KEYS then ARGV) for `gid`; `argv` entries override by ARGV index. */
function rawArgs(gid: string, argv: Record<number, string> = {}, length = 8): string[] {
  const b = h.keys.bucketOf(gid);
  const base = [gid, 'submitted', 'saga', String(T0), String(T0 + 10_000), '10', 'req', 'submit'];
  for (const [i, v] of Object.entries(argv)) base[Number(i) - 1] = v;
  return [h.keys.trans(gid), h.keys.due(b), h.keys.idx(b), h.keys.fin(b), h.keys.stats(b), ...base.slice(0, length)];
}

t.test('creates a submitted saga with its branches, its schedule entry and its index entry', async (t) => {
  h.clock.set(T0);
  const nt = newTrans('ct-happy', { req: request({ custom_data: '{"k":1}' }) });
  t.strictSame(await h.store.createTrans(nt, 'submit'), { tag: 'OK' }, 'created');

  const b = h.keys.bucketOf(nt.gid);
  t.strictSame(
    await fields(h.client, h.keys.trans(nt.gid), 's', 'tt', 'ct', 'ut', 'nct', 'nci', 'n', 'bs', 't1', 't2', 't3', 'ft', 'rt', 'rr', 'rc', 'res'),
    {
      s: 'submitted',
      tt: 'saga',
      ct: String(T0),
      ut: String(T0),
      nct: String(T0 + 10_000),
      nci: '10',
      n: '3',
      bs: 'ppp',
      t1: null,
      t2: null,
      t3: null,
      ft: null,
      rt: null,
      rr: null,
      rc: null,
      res: null,
    },
    'the record holds the global fields and one status code per branch',
  );
  t.equal(await zscore(h.client, h.keys.due(b), nt.gid), T0 + 10_000, 'scheduled at next_cron_time');
  t.equal(await zscore(h.client, h.keys.idx(b), nt.gid), T0, 'indexed at the create time');
  t.equal(await h.client.pttl(h.keys.trans(nt.gid)), -1, 'an unfinished record has no TTL');
  t.strictSame(await h.store.getTrans(nt.gid), expected(nt, T0), 'getTrans decodes what was created');
});

t.test('creates a prepared message without branches', async (t) => {
  h.clock.set(T0 + 5);
  const nt = newTrans('ct-prepared-msg', { trans_type: 'msg', status: 'prepared', branches: [], next_cron_time: T0 + 5 + 35_000, next_cron_interval: 35 });
  t.strictSame(await h.store.createTrans(nt, 'prepare'), { tag: 'OK' }, 'created');
  t.strictSame(
    await fields(h.client, h.keys.trans(nt.gid), 's', 'tt', 'n', 'bs'),
    { s: 'prepared', tt: 'msg', n: '0', bs: '' },
    'no branches, empty status string',
  );
  t.equal(await zscore(h.client, h.keys.due(h.keys.bucketOf(nt.gid)), nt.gid), T0 + 5 + 35_000, 'scheduled for the prepared check');
  t.strictSame(await h.store.getTrans(nt.gid), expected(nt, T0 + 5), 'getTrans decodes it');
});

t.test('stores many branches in list order (HSET in chunks)', async (t) => {
  h.clock.set(T0);
  const nt = newTrans('ct-many-branches', { branches: branches(1200) });
  t.strictSame(await h.store.createTrans(nt, 'submit'), { tag: 'OK' }, 'created');
  t.strictSame(await fields(h.client, h.keys.trans(nt.gid), 'n', 'bs'), { n: '1200', bs: 'p'.repeat(1200) }, 'every branch is counted');
  const got = await h.store.getTrans(nt.gid);
  t.strictSame(got, expected(nt, T0), 'every branch decodes, in order');
});

t.test('stored blobs are plain msgpack that Lua cmsgpack can read', async (t) => {
  h.clock.set(T0);
  const req = request({ custom_data: 'cd', query_prepared: 'http://q', options: { ...request().options, retry_limit: 3, branch_headers: { a: 'b' } } });
  const nt = newTrans('ct-cmsgpack', { req });
  await h.store.createTrans(nt, 'submit');
  const json = await h.client.eval(
    "return cjson.encode({ cmsgpack.unpack(redis.call('HGET', KEYS[1], 'req')), cmsgpack.unpack(redis.call('HGET', KEYS[1], 'b2')) })",
    1,
    h.keys.trans(nt.gid),
  );
  t.strictSame(
    JSON.parse(String(json)),
    [unpack(encodeRequest(req)), [nt.branches[1]!.branch_id, nt.branches[1]!.op, nt.branches[1]!.url, nt.branches[1]!.data]],
    'Lua decodes the (compact) request map and a branch array',
  );
});

interface GuardRow {
  name: string;
  existing: TransStatus;
  mode: 'prepare' | 'submit';
  tag: 'EXISTS' | 'PROMOTED';
  /** Status after the call. */
  after: TransStatus;
}

const guardRows: GuardRow[] = [
  { name: 'prepare finds it prepared', existing: 'prepared', mode: 'prepare', tag: 'EXISTS', after: 'prepared' },
  { name: 'submit finds it prepared', existing: 'prepared', mode: 'submit', tag: 'PROMOTED', after: 'submitted' },
  { name: 'prepare finds it submitted', existing: 'submitted', mode: 'prepare', tag: 'EXISTS', after: 'submitted' },
  { name: 'submit finds it submitted', existing: 'submitted', mode: 'submit', tag: 'EXISTS', after: 'submitted' },
  { name: 'submit finds it aborting', existing: 'aborting', mode: 'submit', tag: 'EXISTS', after: 'aborting' },
  { name: 'submit finds it succeed', existing: 'succeed', mode: 'submit', tag: 'EXISTS', after: 'succeed' },
  { name: 'prepare finds it failed', existing: 'failed', mode: 'prepare', tag: 'EXISTS', after: 'failed' },
];

t.test('an existing gid is reported with its stored record, and only submit promotes a prepared one', async (t) => {
  for (const row of guardRows) {
    const gid = `ct-guard-${row.existing}-${row.mode}`;
    h.clock.set(T0);
    await seed(h, gid, row.existing, { trans_type: 'msg' });
    const stored = await h.store.getTrans(gid);
    const before = await snapshot(h.client, h.keys);
    h.clock.set(T0 + 1000);
    // A different request for the same gid: the stored one must win.
    const again = newTrans(gid, {
      trans_type: 'saga',
      branches: branches(1),
      status: row.mode === 'prepare' ? 'prepared' : 'submitted',
      next_cron_time: T0 + 99_000,
    });
    const out = await h.store.createTrans(again, row.mode);
    const after = await h.store.getTrans(gid);
    t.ok(after !== undefined, `${row.name}: still there`);
    if (stored === undefined || after === undefined) continue;
    if (row.tag === 'EXISTS') {
      t.strictSame(out, { tag: 'EXISTS', trans: stored }, `${row.name}: EXISTS with the stored record`);
      t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
    } else {
      const promoted = { ...stored, status: 'submitted', update_time: T0 + 1000, next_cron_time: T0 + 99_000, scheduled_time: T0 + 99_000 };
      t.strictSame(out, { tag: 'PROMOTED', trans: promoted }, `${row.name}: PROMOTED with the updated record`);
      t.strictSame(after, promoted, `${row.name}: only status, update time and schedule changed`);
      t.equal(await zscore(h.client, h.keys.due(h.keys.bucketOf(gid)), gid), T0 + 99_000, `${row.name}: rescheduled at the submit's next cron time`);
    }
    t.equal(after.status, row.after, `${row.name}: status is ${row.after}`);
    t.equal(after.trans_type, 'msg', `${row.name}: the first request's type is kept`);
  }
});

t.test('a submit with the prepare body is answered the whole record, the blobs it sent standing in for the stored ones', async (t) => {
  h.clock.set(T0);
  const step = { branch_id: '01', op: 'action', url: 'http://busi.test/order', data: '{"sku":1}' };
  const np = newTrans('ct-promote-same', { trans_type: 'msg', status: 'prepared', req: request({ query_prepared: 'http://busi.test/qp' }), branches: [step] });
  t.strictSame(await h.store.createTrans(np, 'prepare'), { tag: 'OK' }, 'prepared');
  h.clock.set(T0 + 3);
  const out = await h.store.createTrans({ ...np, status: 'submitted' }, 'submit');
  const stored = await h.store.getTrans(np.gid);
  t.strictSame(out, { tag: 'PROMOTED', trans: stored }, 'PROMOTED with the record as getTrans reads it');
  t.equal(stored?.branches[0]?.url, step.url, 'the branch to call');

  // Another body for the same gid: what is stored wins, blob by blob.
  const other = newTrans('ct-promote-same', {
    trans_type: 'msg',
    req: request({ query_prepared: 'http://busi.test/qp' }),
    branches: [{ ...step, url: 'http://elsewhere.test/order' }],
  });
  t.strictSame(
    await h.store.createTrans(other, 'submit'),
    { tag: 'EXISTS', trans: stored },
    'a different branch: the stored one, the same request: the sent one',
  );
  const otherReq = newTrans('ct-promote-same', { trans_type: 'msg', req: request({ custom_data: '{"delay":1}' }), branches: [step] });
  t.strictSame(await h.store.createTrans(otherReq, 'submit'), { tag: 'EXISTS', trans: stored }, 'a different request: the stored one');
});

t.test('the EXISTS record of a finished transaction keeps its TTL', async (t) => {
  h.clock.set(T0);
  await seed(h, 'ct-exists-finished', 'succeed');
  const out = await h.store.createTrans(newTrans('ct-exists-finished'), 'submit');
  t.match(out, { tag: 'EXISTS', trans: { status: 'succeed', finish_time: T0 } }, 'EXISTS succeed');
  const ttl = await h.client.ttl(h.keys.trans('ct-exists-finished'));
  t.ok(ttl > 0 && ttl <= FINISHED_TTL_S, `TTL still set (${ttl} s)`);
});

t.test('replaying a create gives EXISTS (or PROMOTED once) and leaves the same end state', async (t) => {
  h.clock.set(T0);
  const nt = newTrans('ct-replay-submit');
  t.strictSame(await h.store.createTrans(nt, 'submit'), { tag: 'OK' }, 'first submit creates');
  const once = await snapshot(h.client, h.keys);
  t.strictSame(await h.store.createTrans(nt, 'submit'), { tag: 'EXISTS', trans: expected(nt, T0) }, 'second submit: EXISTS');
  t.strictSame(await snapshot(h.client, h.keys), once, 'second submit wrote nothing');

  const np = newTrans('ct-replay-prepare', { trans_type: 'msg', status: 'prepared' });
  t.strictSame(await h.store.createTrans(np, 'prepare'), { tag: 'OK' }, 'prepare creates');
  t.match(await h.store.createTrans(np, 'prepare'), { tag: 'EXISTS', trans: { status: 'prepared' } }, 'prepare again: EXISTS prepared');
  h.clock.set(T0 + 7);
  const submitted = { ...np, status: 'submitted' as const };
  t.match(await h.store.createTrans(submitted, 'submit'), { tag: 'PROMOTED', trans: { status: 'submitted', update_time: T0 + 7 } }, 'submit: PROMOTED');
  const promoted = await snapshot(h.client, h.keys);
  h.clock.set(T0 + 9);
  t.match(await h.store.createTrans(submitted, 'submit'), { tag: 'EXISTS', trans: { status: 'submitted', update_time: T0 + 7 } }, 'submit again: EXISTS');
  t.strictSame(await snapshot(h.client, h.keys), promoted, 'the replayed submit wrote nothing');
});

t.test('the raw script answers OK, then the record as HGETALL pairs, a blob equal to the one sent as nil', async (t) => {
  const gid = 'ct-raw';
  const call = raw(h.client, 'createTrans');
  t.strictSame(await call(...rawArgs(gid, { 3: 'msg' }), 'b1'), ['OK'], 'created');
  const pairs = (reply: (string | null)[]): Record<string, string | null> => {
    const record: Record<string, string | null> = {};
    for (let i = 1; i + 1 < reply.length; i += 2) record[reply[i]!] = reply[i + 1]!;
    return record;
  };
  const stored = { s: 'submitted', tt: 'msg', ct: String(T0), ut: String(T0), nct: String(T0 + 10_000), nci: '10', req: 'req', n: '1', bs: 'p', b1: 'b1' };
  const again = (await call(...rawArgs(gid))) as (string | null)[];
  t.equal(again[0], 'EXISTS', 'tag first');
  t.strictSame(pairs(again), { ...stored, req: null }, 'the same request: nil in its place; the branch it did not send: its blob');
  const same = (await call(...rawArgs(gid), 'b1')) as (string | null)[];
  t.strictSame(pairs(same), { ...stored, req: null, b1: null }, 'the same request and branch: both nil');
  const other = (await call(...rawArgs(gid, { 7: 'another req' }), 'b1 changed', 'b2')) as (string | null)[];
  t.strictSame(pairs(other), stored, 'a different request and branch: the stored blobs; a branch not stored is no field');
  const buf = (await raw(h.client, 'createTrans', true)(...rawArgs(gid))) as unknown[];
  t.ok(Buffer.isBuffer(buf[0]) && buf[0].toString() === 'EXISTS', 'the Buffer variant answers Buffers');
});

t.test('a bad argument is a DTM_ARGS error reply and nothing is written', async (t) => {
  h.clock.set(T0);
  await seed(h, 'ct-bad-existing', 'prepared', { trans_type: 'msg' });
  const rows: { name: string; args: string[] }[] = [
    { name: 'status not prepared|submitted', args: rawArgs('ct-bad', { 2: 'aborting' }) },
    { name: 'now not a number', args: rawArgs('ct-bad', { 4: 'soon' }) },
    { name: 'now NaN', args: rawArgs('ct-bad', { 4: 'NaN' }) },
    { name: 'next cron NaN', args: rawArgs('ct-bad', { 5: 'nan' }) },
    { name: 'next cron inf', args: rawArgs('ct-bad', { 5: 'inf' }) },
    { name: 'interval empty', args: rawArgs('ct-bad', { 6: '' }) },
    { name: 'mode unknown', args: rawArgs('ct-bad', { 8: 'create' }) },
    { name: 'mode missing', args: rawArgs('ct-bad', {}, 7) },
    { name: 'gid missing', args: rawArgs('ct-bad', {}, 0) },
    // Arguments are checked before the existence check: a bad mode never promotes.
    { name: 'mode unknown on an existing prepared gid', args: rawArgs('ct-bad-existing', { 8: 'promote' }) },
    { name: 'now NaN on an existing prepared gid', args: rawArgs('ct-bad-existing', { 4: 'NaN' }) },
  ];
  const call = raw(h.client, 'createTrans');
  for (const row of rows) {
    const before = await snapshot(h.client, h.keys);
    await t.rejects(call(...row.args), { message: /^DTM_ARGS / }, `${row.name}: DTM_ARGS`);
    t.strictSame(await snapshot(h.client, h.keys), before, `${row.name}: nothing written`);
  }
  t.equal(await h.client.exists(h.keys.trans('ct-bad')), 0, 'no record was created');
});

t.test('through the store a bad argument is a StoreContractError', async (t) => {
  const before = await snapshot(h.client, h.keys);
  await t.rejects(
    h.store.createTrans(newTrans('ct-bad-store', { next_cron_time: Number.NaN }), 'submit'),
    { name: 'StoreContractError', status: 500, message: /DTM_ARGS/ },
    'a NaN next cron time is a broken contract',
  );
  t.strictSame(await snapshot(h.client, h.keys), before, 'nothing written');
});

t.test('the request blob is stored in its compact form and read back unchanged', async (t) => {
  const req = request({ custom_data: 'ü€𝄞', options: { ...request().options, branch_headers: { 'x-a': '1' }, retry_limit: 3, wait_result: true } });
  await h.store.createTrans(newTrans('ct-req-blob', { req }), 'submit');
  const blob = await h.client.hgetBuffer(h.keys.trans('ct-req-blob'), 'req');
  t.ok(blob !== null && blob.equals(encodeRequest(req)), 'the stored bytes are the encoded request');
  t.strictSame(
    blob === null ? null : unpack(blob),
    { custom_data: 'ü€𝄞', options: { branch_headers: { 'x-a': '1' }, retry_limit: 3, wait_result: true } },
    'which leaves out the fields at their defaults',
  );
  t.match(await h.store.getTrans('ct-req-blob'), { req }, 'getTrans returns it');
});

t.test('a create and a promotion run these commands and no other', async (t) => {
  h.clock.set(T0);
  const np = newTrans('ct-commands', { trans_type: 'msg', status: 'prepared', branches: branches(1) });
  t.strictSame(await commandsRun(h.client, () => h.store.createTrans(np, 'prepare')), { evalsha: 1, hget: 1, hset: 1, zadd: 2, hincrby: 1, zrem: 1 }, 'create');
  t.strictSame(
    await commandsRun(h.client, () => h.store.createTrans({ ...np, status: 'submitted' }, 'submit')),
    { evalsha: 1, hget: 1, hset: 1, zadd: 1, hincrby: 2, hgetall: 1 },
    'promote',
  );
});
