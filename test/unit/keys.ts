import { randomInt } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import t from 'tap';
import { assertGid, newGid } from '../../src/gid.js';
import { createKeys, fnv1a32 } from '../../src/store/keys.js';

/** Every character a gid may hold: printable ASCII without space, braces included. */
// Printable ASCII without space and `;`: every character a gid may hold.
const GID_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
  .filter((c) => c !== ';')
  .join('');

/** A random gid of the accepted alphabet, 1-128 chars; every fourth one is a newGid(). */
function randomGid(i: number): string {
  if (i % 4 === 0) return newGid();
  const length = randomInt(1, 129);
  let s = '';
  for (let k = 0; k < length; k++) s += GID_CHARS[randomInt(GID_CHARS.length)];
  return s;
}

t.test('every key a transition touches for a gid hashes to one cluster slot', async (t) => {
  for (const [prefix, buckets] of [
    ['dtm', 64],
    ['p', 1],
    ['my-app.prod:v2', 16384],
  ] as const) {
    const keys = createKeys(prefix, buckets);
    let bad: string | undefined;
    for (let i = 0; i < 5000 && bad === undefined; i++) {
      const gid = randomGid(i);
      const b = keys.bucketOf(gid);
      const slots = [keys.trans(gid), keys.due(b), keys.idx(b), keys.fin(b), keys.stats(b)].map((k) => calculateSlot(k));
      if (new Set(slots).size !== 1) bad = `${gid}: ${slots.join(', ')}`;
    }
    t.equal(bad, undefined, `${prefix}/${buckets}: trans, due and idx share the slot for 5000 random gids`);
  }
});

t.test('the random gids are gids the API accepts', async (t) => {
  t.doesNotThrow(() => {
    for (let i = 0; i < 2000; i++) assertGid(randomGid(i));
  }, 'assertGid accepts all 2000');
});

t.test('braces in a gid cannot move its slot, because the gid comes after the tag', async (t) => {
  const keys = createKeys('dtm', 64);
  for (const gid of ['{x}', 'a{b}c', '}{', '{}', '{dtm:0}', '{a}-123', '{dtm:1}:due']) {
    const b = keys.bucketOf(gid);
    t.equal(calculateSlot(keys.trans(gid)), calculateSlot(keys.due(b)), `${gid}: same slot as its bucket`);
  }
});

t.test('bucketOf is stable, an integer within range, and the same for every Keys of that count', async (t) => {
  const a = createKeys('dtm', 64);
  const b = createKeys('other', 64);
  const counts = new Array<number>(64).fill(0);
  let ok = true;
  for (let i = 0; i < 5000; i++) {
    const gid = randomGid(i);
    const x = a.bucketOf(gid);
    if (!Number.isInteger(x) || x < 0 || x >= 64 || a.bucketOf(gid) !== x || b.bucketOf(gid) !== x) ok = false;
    counts[x] = (counts[x] ?? 0) + 1;
  }
  t.ok(ok, 'in [0, 64), repeatable, independent of the prefix');
  t.ok(
    counts.every((c) => c > 0),
    'every bucket gets gids',
  );
  for (const n of [1, 2, 1024]) {
    const k = createKeys('dtm', n);
    t.ok(
      [...Array(1000).keys()].every((i) => k.bucketOf(randomGid(i)) < n),
      `${n} buckets: always below ${n}`,
    );
  }
});

t.test('bucketOf is FNV-1a 32 masked to the bucket count, pinned so datasets stay readable', async (t) => {
  t.equal(fnv1a32(''), 0x811c9dc5, 'FNV-1a offset basis for the empty string');
  t.equal(fnv1a32('a'), 0xe40c292c, 'FNV-1a("a")');
  t.equal(fnv1a32('foobar'), 0xbf9cf968, 'FNV-1a("foobar")');
  const keys = createKeys('dtm', 64);
  t.strictSame(
    ['a', 'foobar', 'gid-1'].map((g) => keys.bucketOf(g)),
    [0xe40c292c & 63, 0xbf9cf968 & 63, fnv1a32('gid-1') & 63],
    'bucket = hash & (B - 1)',
  );
});

t.test('keys are spelled with the bucket hash tag, the gid after it', async (t) => {
  const keys = createKeys('dtm', 64);
  const b = keys.bucketOf('foobar');
  t.strictSame(
    { tag: keys.tag(b), trans: keys.trans('foobar'), due: keys.due(b), idx: keys.idx(b), meta: keys.meta(), prefix: keys.prefix, buckets: keys.buckets },
    { tag: `{dtm:${b}}`, trans: `{dtm:${b}}:g:foobar`, due: `{dtm:${b}}:due`, idx: `{dtm:${b}}:idx`, meta: '{dtm:meta}', prefix: 'dtm', buckets: 64 },
    'the documented layout',
  );
});

t.test('createKeys rejects braces in the prefix', async (t) => {
  for (const prefix of ['{a}', 'a{', 'b}', '{}']) {
    t.throws(() => createKeys(prefix, 64), /braces/, `${prefix}: rejected`);
  }
});

t.test('createKeys rejects a bucket count that is not a power of two from 1 to 16384', async (t) => {
  for (const n of [0, -1, -4, 3, 6, 12, 100, 2.5, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 32768, 2 ** 31, 2 ** 32]) {
    t.throws(() => createKeys('dtm', n), /power of two/, `${n}: rejected`);
  }
  for (const n of [1, 2, 4, 64, 1024, 16384]) {
    t.equal(createKeys('dtm', n).buckets, n, `${n}: accepted`);
  }
});

/** A random KV cat or key: 0-40 chars mixing ASCII (braces and colons included) and non-ASCII. */
function randomKvPart(): string {
  const alphabet = `${GID_CHARS}::::{}é話😀 `;
  const chars = [...alphabet];
  let s = '';
  for (let k = randomInt(0, 41); k > 0; k--) s += chars[randomInt(chars.length)];
  return s;
}

t.test('every KV key, records and cat indexes alike, hashes to the one KV slot', async (t) => {
  for (const prefix of ['dtm', 'p', 'my-app.prod:v2']) {
    const keys = createKeys(prefix, 64);
    const slot = calculateSlot(`{${prefix}:kv}`);
    let bad: string | undefined;
    for (let i = 0; i < 5000 && bad === undefined; i++) {
      const cat = i % 3 === 0 ? 'topics' : randomKvPart();
      const key = randomKvPart();
      const slots = [keys.kv(cat, key), keys.kvIdx(cat)].map((k) => calculateSlot(k));
      if (slots.some((s) => s !== slot)) bad = `${JSON.stringify([cat, key])}: ${slots.join(', ')} (want ${slot})`;
    }
    t.equal(bad, undefined, `${prefix}: kv and kvIdx share the {${prefix}:kv} slot for 5000 random cats and keys`);
  }
});

t.test('KV keys are injective although cats and keys may hold colons', async (t) => {
  const keys = createKeys('dtm', 64);
  t.strictSame(
    { kv: keys.kv('topics', 'orders'), kvIdx: keys.kvIdx('topics'), utf8: keys.kv('é', 'x') },
    { kv: '{dtm:kv}:r:6:topics:orders', kvIdx: '{dtm:kv}:i:topics', utf8: '{dtm:kv}:r:2:é:x' },
    'the documented layout; the length is the cat in UTF-8 bytes',
  );
  t.not(keys.kv('a:b', 'c'), keys.kv('a', 'b:c'), 'a colon moved between cat and key gives another key');
  const seen = new Map<string, string>();
  let clash: string | undefined;
  for (let i = 0; i < 5000 && clash === undefined; i++) {
    const cat = randomKvPart();
    const key = randomKvPart();
    const pair = JSON.stringify([cat, key]);
    for (const [k, who] of [
      [keys.kv(cat, key), `kv ${pair}`],
      [keys.kvIdx(cat), `kvIdx ${JSON.stringify(cat)}`],
    ] as const) {
      const before = seen.get(k);
      if (before !== undefined && before !== who) clash = `${who} and ${before} are both ${k}`;
      seen.set(k, who);
    }
  }
  t.equal(clash, undefined, 'no two (cat, key) pairs, and no record and index, share a key over 5000 random pairs');
  t.not(keys.kvIdx('x'), keys.meta(), 'the KV tag is not the meta key');
});
