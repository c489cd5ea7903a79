import t from 'tap';
import { assertGid, MAX_GID_LENGTH, newGid, parseGid } from '../../src/gid.js';

t.test('newGid is 22 characters of the shortuuid alphabet', async (t) => {
  const re = /^[2-9A-HJ-NP-Za-km-z]{22}$/;
  const gids = Array.from({ length: 2000 }, () => newGid());
  const bad = gids.filter((g) => !re.test(g));
  t.strictSame(bad, [], 'all 2000 match ^[2-9A-HJ-NP-Za-km-z]{22}$');
  t.doesNotThrow(() => gids.forEach(assertGid), 'and pass our own validation');
});

t.test('two newGid calls differ', async (t) => {
  t.not(newGid(), newGid(), 'two calls differ');
  const many = new Set(Array.from({ length: 10_000 }, () => newGid()));
  t.equal(many.size, 10_000, '10000 calls, no repeat');
});

t.test('parseGid keeps a valid gid as it is: printable ASCII, braces included', async (t) => {
  // Braces are allowed (DTM's flash-sale recipe uses `{a}-<uuid>`); keys put the gid after
  // their own hash tag, so a brace cannot move the slot (test/unit/keys.ts).
  for (const raw of ['abc', 'A-z_0.9:@x', '{a}-123', '!~/?*[]']) t.equal(parseGid(raw), raw, `${JSON.stringify(raw)} is kept`);
});

t.test('parseGid rejects an empty, too long, whitespace, control or non-ASCII gid with BadRequestError', async (t) => {
  const rows: [name: string, raw: unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    ['a semicolon (DTM strips it, making Xa;b and Xab one transaction)', 'Xa;b'],
    ['a newline', 'a\nb'],
    ['a carriage return', 'a\r\nb'],
    ['only characters DTM strips', '\n;\r'],
    ['a number', 42],
    ['an object', { gid: 'x' }],
    ['too long', 'a'.repeat(MAX_GID_LENGTH + 1)],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a vertical tab', 'a\vb'],
    ['a NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['non-ASCII', 'gïd'],
  ];
  for (const [name, raw] of rows) {
    t.throws(() => parseGid(raw), { name: 'BadRequestError', status: 400, message: /^\[DTM_BAD_GID\]/ }, `${name}: 400 DTM_BAD_GID`);
  }
  t.equal(parseGid('a'.repeat(MAX_GID_LENGTH)), 'a'.repeat(MAX_GID_LENGTH), `${MAX_GID_LENGTH} chars are accepted`);
});
