/**
 * Topic logic over an in-memory KV (the Redis side is test/lua/kv*.ts): DTM's error texts, the
 * version-checked updates with their retries on races, replays, Go's JSON spelling, and the
 * expansion of msg `topic://` steps into branches.
 */
import t from 'tap';
import type { KvCreateOutcome, KvUpdateOutcome } from '../../src/store/kv-scripts.js';
import type { KvRecord, KvStore } from '../../src/store/kv.js';
import { parseTransBody, type TransBody } from '../../src/trans/request.js';
import { strategies } from '../../src/trans/strategies.js';
import { createTopics, decodeSubscribers, encodeSubscribers, TOPICS_CAT } from '../../src/trans/topics.js';

interface FakeKv extends KvStore {
  records: Map<string, KvRecord>;
  /** Runs before the next create or update, as a writer racing between our read and our write. */
  interfere(...fns: (() => void)[]): void;
  /** Overrides the next create/update answers (a replay's reply), after writing nothing. */
  answer(...outcomes: (KvCreateOutcome | KvUpdateOutcome)[]): void;
  writes: number;
}

function fakeKv(): FakeKv {
  const records = new Map<string, KvRecord>();
  const pending: (() => void)[] = [];
  const answers: (KvCreateOutcome | KvUpdateOutcome)[] = [];
  const id = (cat: string, key: string): string => JSON.stringify([cat, key]);
  const fake: FakeKv = {
    records,
    writes: 0,
    interfere: (...fns) => pending.push(...fns),
    answer: (...o) => answers.push(...o),
    async create(cat, key, value) {
      pending.shift()?.();
      if (answers.length > 0) return answers.shift() as KvCreateOutcome;
      const cur = records.get(id(cat, key));
      if (cur !== undefined) return { tag: 'DUP', version: cur.version, v: cur.v };
      fake.writes++;
      records.set(id(cat, key), { cat, k: key, v: value, version: 1, create_time: 0, update_time: 0 });
      return { tag: 'OK' };
    },
    async update(cat, key, expected, value) {
      pending.shift()?.();
      if (answers.length > 0) return answers.shift() as KvUpdateOutcome;
      const cur = records.get(id(cat, key));
      if (cur === undefined) return { tag: 'NOT_FOUND' };
      if (cur.version !== expected) return { tag: 'STALE', version: cur.version, v: cur.v };
      fake.writes++;
      records.set(id(cat, key), { ...cur, v: value, version: expected + 1 });
      return { tag: 'OK', version: expected + 1 };
    },
    async delete(cat, key) {
      return records.delete(id(cat, key)) ? 'OK' : 'NOT_FOUND';
    },
    async get(cat, key) {
      const r = records.get(id(cat, key));
      return r === undefined ? undefined : { ...r };
    },
    async getValue(cat, key) {
      return records.get(id(cat, key))?.v;
    },
    scan: async () => ({ records: [], nextPosition: '' }),
    list: async () => [],
  };
  return fake;
}

/** Writes a topic's subscribers as another process would (bumping the version). */
function put(kv: FakeKv, topic: string, urls: string[]): void {
  const key = JSON.stringify([TOPICS_CAT, topic]);
  const cur = kv.records.get(key);
  kv.records.set(key, {
    cat: TOPICS_CAT,
    k: topic,
    v: encodeSubscribers(urls.map((url) => ({ url, remark: '' }))),
    version: (cur?.version ?? 0) + 1,
    create_time: 0,
    update_time: 0,
  });
}

const value = (kv: FakeKv, topic: string): { version: number | undefined; urls: string[] } => {
  const r = kv.records.get(JSON.stringify([TOPICS_CAT, topic]));
  return { version: r?.version, urls: r === undefined ? [] : decodeSubscribers(topic, r.v).map((s) => s.url) };
};

const E500 = (message: string): { name: string; status: number; message: string } => ({ name: 'InternalError', status: 500, message });

t.test('subscribers are spelled as Go writes them and read back leniently', async (t) => {
  t.equal(
    encodeSubscribers([{ url: 'http://h/a?x=1&y=<2>', remark: 'r\u2028' }]),
    '[{"url":"http://h/a?x=1\\u0026y=\\u003c2\\u003e","remark":"r\\u2028"}]',
    'Go escapes &, <, >, U+2028 as \\u sequences',
  );
  t.equal(encodeSubscribers([]), '[]', 'no subscriber: []');
  t.strictSame(decodeSubscribers('t', '[{"url":"http://h/a?x=1\\u0026y","remark":"r"}]'), [{ url: 'http://h/a?x=1&y', remark: 'r' }], 'escapes decode');
  t.strictSame(decodeSubscribers('t', 'null'), [], 'null is no subscriber (Go unmarshals it to an empty slice)');
  t.strictSame(
    decodeSubscribers('t', '[{"url":"u"},{"remark":"r","extra":1}]'),
    [
      { url: 'u', remark: '' },
      { url: '', remark: 'r' },
    ],
    'missing fields are empty',
  );
  t.throws(() => decodeSubscribers('t', '{'), { name: 'InternalError', status: 500, message: /not JSON/ }, 'not JSON → 500');
  t.throws(() => decodeSubscribers('t', '{"url":"u"}'), { name: 'InternalError', message: /not a JSON array/ }, 'not an array → 500');
  t.throws(() => decodeSubscribers('t', '[1]'), { name: 'InternalError', message: /not a JSON object/ }, 'an element that is no object → 500');
});

t.test('subscribe: DTM checks and texts', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  await t.rejects(topics.subscribe('', '', ''), E500('empty topic'), 'empty topic first');
  await t.rejects(topics.subscribe('t', '', 'r'), E500('empty url'), 'empty url');
  await topics.subscribe('t', 'http://u1', 'r1');
  t.strictSame(value(kv, 't'), { version: 1, urls: ['http://u1'] }, 'the first subscribe creates version 1');
  t.equal(kv.records.get(JSON.stringify(['topics', 't']))?.v, '[{"url":"http://u1","remark":"r1"}]', "v is DTM's JSON text");
  await t.rejects(topics.subscribe('t', 'http://u1', 'other remark'), E500('this url exists'), 'the same url again');
  await topics.subscribe('t', 'http://u2', '');
  t.strictSame(value(kv, 't'), { version: 2, urls: ['http://u1', 'http://u2'] }, 'a second url is appended, version 2');
});

t.test("subscribe retries a version race and keeps both writers' urls", async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  put(kv, 't', ['http://a']);
  kv.interfere(() => put(kv, 't', ['http://a', 'http://other']));
  await topics.subscribe('t', 'http://mine', '');
  t.strictSame(value(kv, 't'), { version: 3, urls: ['http://a', 'http://other', 'http://mine'] }, 're-read and appended after the other writer');
});

t.test('subscribe on a topic created concurrently appends to it', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  kv.interfere(() => put(kv, 't', ['http://first']));
  await topics.subscribe('t', 'http://mine', '');
  t.strictSame(value(kv, 't'), { version: 2, urls: ['http://first', 'http://mine'] }, 'DUP on create → read → update');
  const kv2 = fakeKv();
  kv2.interfere(() =>
    kv2.records.set(JSON.stringify([TOPICS_CAT, 't']), {
      cat: TOPICS_CAT,
      k: 't',
      v: encodeSubscribers([{ url: 'http://mine', remark: 'theirs' }]),
      version: 1,
      create_time: 0,
      update_time: 0,
    }),
  );
  await t.rejects(
    createTopics(kv2).subscribe('t', 'http://mine', 'mine'),
    E500('this url exists'),
    'a concurrent create of the same url with another remark: this url exists',
  );
  const kv3 = fakeKv();
  kv3.interfere(() => put(kv3, 't', ['http://mine']));
  await createTopics(kv3).subscribe('t', 'http://mine', '');
  t.strictSame(value(kv3, 't'), { version: 1, urls: ['http://mine'] }, 'one with the very same value looks like our replay: success, the url is subscribed');
});

t.test('subscribe reads a replayed write (its own value one version up) as done', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  kv.answer({ tag: 'DUP', version: 1, v: encodeSubscribers([{ url: 'http://u', remark: '' }]) });
  await topics.subscribe('t', 'http://u', '');
  t.equal(kv.writes, 0, 'create: DUP with our own value at version 1 is success');
  put(kv, 't2', ['http://a']);
  kv.answer({
    tag: 'STALE',
    version: 2,
    v: encodeSubscribers([
      { url: 'http://a', remark: '' },
      { url: 'http://b', remark: '' },
    ]),
  });
  await topics.subscribe('t2', 'http://b', '');
  t.equal(kv.writes, 0, 'update: STALE at expected + 1 with our own value is success');
});

t.test("subscribe gives up after a few lost races with DTM's storage error", async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  put(kv, 't', ['http://a']);
  kv.interfere(...Array.from({ length: 5 }, (_, i) => () => put(kv, 't', ['http://a', `http://x${i}`])));
  await t.rejects(topics.subscribe('t', 'http://mine', ''), E500('storage: NotFound'), 'version lost 5 times → storage: NotFound');
  const kv2 = fakeKv();
  kv2.answer(...Array.from({ length: 5 }, () => ({ tag: 'DUP' as const, version: 1, v: '[]' })));
  await t.rejects(createTopics(kv2).subscribe('t', 'http://mine', ''), E500('storage: UniqueKeyConflict'), 'create lost 5 times → storage: UniqueKeyConflict');
  const kv3 = fakeKv();
  put(kv3, 't', ['http://a']);
  kv3.answer(...Array.from({ length: 5 }, () => ({ tag: 'NOT_FOUND' as const })));
  await t.rejects(createTopics(kv3).subscribe('t', 'http://mine', ''), E500('storage: NotFound'), 'deleted under every update → storage: NotFound');
});

t.test('unsubscribe: DTM checks and texts', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  await t.rejects(topics.unsubscribe('', 'http://u'), E500('empty topic'), 'empty topic');
  await t.rejects(topics.unsubscribe('t', ''), E500('empty url'), 'empty url');
  await t.rejects(topics.unsubscribe('t', 'http://u'), E500('no such a topic'), 'unknown topic');
  put(kv, 't', ['http://a', 'http://b']);
  await t.rejects(topics.unsubscribe('t', 'http://c'), E500('no such an url '), 'unknown url, trailing space included');
  await topics.unsubscribe('t', 'http://a');
  t.strictSame(value(kv, 't'), { version: 2, urls: ['http://b'] }, 'removed, version 2');
  await topics.unsubscribe('t', 'http://b');
  t.strictSame(value(kv, 't'), { version: 3, urls: [] }, 'the last url removed: the topic stays, empty');
  await t.rejects(topics.unsubscribe('t', 'http://b'), E500('this topic is empty'), 'an empty topic');
});

t.test('unsubscribe retries races, reads replays as done, and gives up with storage: NotFound', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  put(kv, 't', ['http://a', 'http://b']);
  kv.interfere(() => put(kv, 't', ['http://a', 'http://b', 'http://c']));
  await topics.unsubscribe('t', 'http://a');
  t.strictSame(value(kv, 't').urls, ['http://b', 'http://c'], "the other writer's url is kept");
  kv.interfere(() => put(kv, 't', ['http://d']));
  await t.rejects(topics.unsubscribe('t', 'http://b'), E500('no such an url '), 'removed by the other writer meanwhile');
  put(kv, 'r', ['http://a']);
  kv.answer({ tag: 'STALE', version: 2, v: '[]' });
  const writes = kv.writes;
  await topics.unsubscribe('r', 'http://a');
  t.equal(kv.writes, writes, 'STALE at expected + 1 with our own value is success');
  put(kv, 'x', ['http://a']);
  kv.answer(...Array.from({ length: 5 }, () => ({ tag: 'STALE' as const, version: 9, v: '[]' })));
  await t.rejects(topics.unsubscribe('x', 'http://a'), E500('storage: NotFound'), 'lost 5 times');
});

t.test('deleteTopic deletes, and a missing topic is storage: NotFound', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  put(kv, 't', ['http://a']);
  await topics.deleteTopic('t');
  t.equal(kv.records.size, 0, 'deleted');
  await t.rejects(topics.deleteTopic('t'), E500('storage: NotFound'), 'again: storage: NotFound');
});

t.test('resolve reads the subscriber urls fresh, [] for an unknown topic', async (t) => {
  const kv = fakeKv();
  const topics = createTopics(kv);
  t.strictSame(await topics.resolve('t'), [], 'unknown: []');
  put(kv, 't', ['http://a', 'http://b']);
  t.strictSame(await topics.resolve('t'), ['http://a', 'http://b'], 'in subscription order');
  put(kv, 't', ['http://b']);
  t.strictSame(await topics.resolve('t'), ['http://b'], 'a change is seen at once (no cache)');
});

/** The branches a transaction of `body`'s type starts with, given its topics' subscribers. */
const generateBranches = (body: TransBody, topics: ReadonlyMap<string, readonly string[]> = new Map()) => strategies[body.trans_type].branchesOf(body, topics);
const topicNames = (body: TransBody) => strategies[body.trans_type].topicsOf(body);

t.test("msg topic:// steps expand to one branch per subscriber with DTM's branch ids", async (t) => {
  const body = parseTransBody({
    gid: 'g',
    trans_type: 'msg',
    steps: [{ action: 'topic://many' }, { action: 'http://plain/x' }, { action: 'topic://one' }, { action: 'topic://many' }],
    payloads: ['p0', 'p1', 'p2', 'p3'],
  });
  t.strictSame(topicNames(body), ['many', 'one'], 'the distinct topic names');
  const topics = new Map([
    ['many', ['http://s1/a', 'http://s2/a']],
    ['one', ['http://s3/a']],
  ]);
  t.strictSame(
    generateBranches(body, topics).map((b) => [b.branch_id, b.url, b.data]),
    [
      ['01-01', 'http://s1/a', 'p0'],
      ['01-02', 'http://s2/a', 'p0'],
      ['02', 'http://plain/x', 'p1'],
      ['03', 'http://s3/a', 'p2'],
      ['04-01', 'http://s1/a', 'p3'],
      ['04-02', 'http://s2/a', 'p3'],
    ],
    '%02d-%02d for several subscribers, %02d for one; every subscriber gets the step payload',
  );
  t.throws(() => generateBranches(body, new Map([['one', ['http://s3/a']]])), E500('topic not found'), 'an unknown topic: 500 topic not found');
  t.throws(() => generateBranches(body, new Map([...topics, ['many', []]])), E500('topic not found'), 'a topic without subscribers: the same');
  t.throws(() => generateBranches(body), E500('topic not found'), 'no resolved topics at all: the same');
  t.throws(
    () => generateBranches(body, new Map([...topics, ['one', ['ftp://x']]])),
    { name: 'BadRequestError', message: /DTM_BAD_URL/ },
    'a subscriber that is not http(s): 400',
  );
  const saga = parseTransBody({ gid: 'g', trans_type: 'saga', steps: [{ action: 'topic://many', compensate: '' }], payloads: ['p'] });
  t.strictSame(topicNames(saga), [], 'only msg steps name topics');
  t.throws(() => generateBranches(saga, topics), { name: 'BadRequestError', message: /DTM_BAD_URL/ }, 'topic:// in a saga is a bad URL');
});
