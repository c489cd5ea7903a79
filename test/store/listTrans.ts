import t from 'tap';
import type { ListQuery } from '../../src/store/list-trans.js';
import type { Store } from '../../src/store/store.js';
import type { TransStatus, TransType } from '../../src/types.js';
import { testKeys } from '../fixtures/redis.js';
import { gidsInBucket, newTrans, seed, startStoreHarness, storeFor, T0, type StoreHarness } from '../fixtures/store.js';

let h: StoreHarness;

interface Model {
  gid: string;
  createTime: number;
  status: TransStatus;
  type: TransType;
}
const model: Model[] = [];

const STATUSES: TransStatus[] = ['succeed', 'failed', 'prepared', 'submitted', 'aborting'];

t.before(async () => {
  h = await startStoreHarness('listTrans');
  // 40 transactions over 8 buckets; 13 distinct create times, so buckets hold ties.
  for (let i = 0; i < 40; i++) {
    const m: Model = { gid: `lt-${i}`, createTime: T0 + (i % 13) * 100, status: STATUSES[i % 5]!, type: i % 3 === 0 ? 'msg' : 'saga' };
    h.clock.set(m.createTime);
    await seed(h, m.gid, m.status, { trans_type: m.type });
    model.push(m);
  }
});
t.teardown(async () => {
  await h.redis.stop();
});

/** Follows next_position from '' to the end; returns the pages' gids. */
async function allPages(store: Store, q: Omit<ListQuery, 'position'>): Promise<{ pages: string[][]; positions: string[] }> {
  const pages: string[][] = [];
  const positions: string[] = [];
  let position = '';
  for (let guard = 0; guard < 1000; guard++) {
    const page = await store.listTrans({ ...q, position });
    pages.push(page.transactions.map((x) => x.gid));
    positions.push(page.nextPosition);
    position = page.nextPosition;
    if (position === '') return { pages, positions };
  }
  throw new Error('listing did not end within 1000 pages');
}

const sorted = (gids: Iterable<string>): string[] => [...gids].sort();

t.test('following next_position with limit 3 visits every gid exactly once and ends with an empty position', async (t) => {
  const { pages, positions } = await allPages(h.store, { limit: 3 });
  const seen = pages.flat();
  t.ok(
    pages.every((p) => p.length <= 3),
    'no page is longer than the limit',
  );
  t.equal(seen.length, new Set(seen).size, 'no gid twice');
  t.strictSame(sorted(seen), sorted(model.map((m) => m.gid)), 'every gid');
  t.equal(positions.at(-1), '', 'the last position is empty');
  t.ok(
    positions.slice(0, -1).every((p) => p !== ''),
    'every earlier position is not empty',
  );
  t.ok(pages.length >= Math.ceil(model.length / 3), `${pages.length} pages`);
});

t.test('within a bucket the newest come first', async (t) => {
  const { pages } = await allPages(h.store, { limit: 3 });
  const byGid = new Map(model.map((m) => [m.gid, m]));
  let lastBucket = -1;
  let lastTime = Infinity;
  let ordered = true;
  for (const gid of pages.flat()) {
    const b = h.keys.bucketOf(gid);
    const ct = byGid.get(gid)!.createTime;
    if (b < lastBucket) ordered = false;
    if (b === lastBucket && ct > lastTime) ordered = false;
    lastBucket = b;
    lastTime = ct;
  }
  t.ok(ordered, 'buckets in ascending order, create time descending within each');
});

t.test('a page returns whole decoded transactions', async (t) => {
  const page = await h.store.listTrans({ position: '', limit: 2 });
  t.equal(page.transactions.length, 2, 'two transactions');
  for (const x of page.transactions) {
    t.strictSame(x, await h.store.getTrans(x.gid), `${x.gid} is what getTrans reads`);
  }
});

interface FilterRow {
  name: string;
  q: Omit<ListQuery, 'position' | 'limit'>;
  want: (m: Model) => boolean;
}

const filterRows: FilterRow[] = [
  { name: 'status succeed', q: { status: 'succeed' }, want: (m) => m.status === 'succeed' },
  { name: 'status prepared', q: { status: 'prepared' }, want: (m) => m.status === 'prepared' },
  { name: 'an unknown status', q: { status: 'nope' }, want: () => false },
  { name: 'transType msg', q: { transType: 'msg' }, want: (m) => m.type === 'msg' },
  { name: 'createTimeStart (exclusive)', q: { createTimeStart: T0 + 300 }, want: (m) => m.createTime > T0 + 300 },
  { name: 'createTimeEnd (exclusive)', q: { createTimeEnd: T0 + 800 }, want: (m) => m.createTime < T0 + 800 },
  {
    name: 'both time bounds (exclusive)',
    q: { createTimeStart: T0 + 300, createTimeEnd: T0 + 800 },
    want: (m) => m.createTime > T0 + 300 && m.createTime < T0 + 800,
  },
  { name: 'gidPrefix lt-1 (lt-1, lt-10 … lt-19)', q: { gidPrefix: 'lt-1' }, want: (m) => m.gid.startsWith('lt-1') },
  { name: 'gidPrefix with status', q: { gidPrefix: 'lt-2', status: 'succeed' }, want: (m) => m.gid.startsWith('lt-2') && m.status === 'succeed' },
  { name: 'a gidPrefix nothing has', q: { gidPrefix: 'zz' }, want: () => false },
  {
    name: 'status, type and time together',
    q: { status: 'submitted', transType: 'saga', createTimeStart: T0 - 1, createTimeEnd: T0 + 1000 },
    want: (m) => m.status === 'submitted' && m.type === 'saga' && m.createTime < T0 + 1000,
  },
];

t.test('filters select exactly the matching transactions across pages', async (t) => {
  for (const row of filterRows) {
    const want = sorted(model.filter(row.want).map((m) => m.gid));
    for (const limit of [3, 100]) {
      const { pages } = await allPages(h.store, { ...row.q, limit });
      const seen = pages.flat();
      t.equal(seen.length, new Set(seen).size, `${row.name}, limit ${limit}: no gid twice`);
      t.strictSame(sorted(seen), want, `${row.name}, limit ${limit}: exactly the ${want.length} matching`);
    }
  }
  t.ok(model.some((m) => m.createTime === T0 + 300) && model.some((m) => m.createTime === T0 + 800), 'the data has rows exactly at both bounds');
});

t.test('many transactions with the same create time in one bucket page without loss or repeat', async (t) => {
  const keys = testKeys('listTrans-ties', 2);
  const store = storeFor(h, keys);
  const tied = gidsInBucket(keys, 0, 45, 'tie');
  const other = gidsInBucket(keys, 1, 5, 'other');
  h.clock.set(T0);
  for (const gid of tied) await store.createTrans(newTrans(gid), 'submit');
  for (const [i, gid] of other.entries()) {
    h.clock.set(T0 + i);
    await store.createTrans(newTrans(gid), 'submit');
  }
  for (const limit of [1, 3, 20]) {
    const { pages } = await allPages(store, { limit });
    const seen = pages.flat();
    t.equal(seen.length, new Set(seen).size, `limit ${limit}: no gid twice`);
    t.strictSame(sorted(seen), sorted([...tied, ...other]), `limit ${limit}: all 50`);
  }
});

t.test('a selective filter may give a short page with a position to continue from', async (t) => {
  const keys = testKeys('listTrans-budget', 1);
  const store = storeFor(h, keys);
  h.clock.set(T0);
  for (let i = 0; i < 120; i++) await store.createTrans(newTrans(`budget-${i}`), 'submit');
  const first = await store.listTrans({ position: '', limit: 1, status: 'failed' });
  t.strictSame(first.transactions, [], 'nothing matched in the examined rows');
  t.not(first.nextPosition, '', 'but the listing is not over');
  const second = await store.listTrans({ position: first.nextPosition, limit: 1, status: 'failed' });
  t.strictSame({ transactions: second.transactions, nextPosition: second.nextPosition }, { transactions: [], nextPosition: '' }, 'the next page ends it');
});

t.test('a transaction whose record has expired is skipped', async (t) => {
  const keys = testKeys('listTrans-expired', 2);
  const store = storeFor(h, keys);
  h.clock.set(T0);
  for (const gid of ['ex-a', 'ex-b', 'ex-c']) await store.createTrans(newTrans(gid), 'submit');
  await h.client.del(keys.trans('ex-b'));
  const { pages } = await allPages(store, { limit: 1 });
  t.strictSame(sorted(pages.flat()), ['ex-a', 'ex-c'], 'only the live ones');
});

t.test('an empty dataset gives an empty page and an empty position', async (t) => {
  const store = storeFor(h, testKeys('listTrans-empty', 4));
  t.strictSame(await store.listTrans({ position: '', limit: 10 }), { transactions: [], nextPosition: '' }, 'nothing');
});

t.test('a position this server did not return is a BadRequestError', async (t) => {
  for (const position of ['x', '8', '99', '-1', '1:', '1:abc:g', '1:2', ' 1', '1.5']) {
    await t.rejects(
      h.store.listTrans({ position, limit: 3 }),
      { name: 'BadRequestError', status: 400, message: /DTM_BAD_POSITION/ },
      `${JSON.stringify(position)}: 400`,
    );
  }
  const ok = await h.store.listTrans({ position: '7', limit: 1 });
  t.ok(ok.transactions.length <= 1, 'a bare bucket number is a valid position');
});
