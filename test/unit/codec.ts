import t from 'tap';
import { pack, unpack } from '../../src/codec.js';
import type { TransRequest } from '../../src/types.js';

/**
 * A minimal, independent msgpack reader for the plain types (nil, bool, int, float, str, bin,
 * array, map). It throws on extension types, so a value it reads is one any msgpack reader
 * (Lua's cmsgpack included) reads as plain maps and arrays.
 */
function plainDecode(buf: Buffer): unknown {
  let o = 0;
  const str = (n: number): string => {
    const s = buf.toString('utf8', o, o + n);
    o += n;
    return s;
  };
  const arr = (n: number): unknown[] => Array.from({ length: n }, () => read());
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = read();
      if (typeof k !== 'string') throw new Error(`map key is ${typeof k}, not a string`);
      out[k] = read();
    }
    return out;
  };
  function read(): unknown {
    const b = buf[o++];
    if (b === undefined) throw new Error('truncated');
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    const take = <T>(n: number, f: (at: number) => T): T => {
      const v = f(o);
      o += n;
      return v;
    };
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4: {
        const n = take(1, (a) => buf.readUInt8(a));
        const v = buf.subarray(o, o + n);
        o += n;
        return v;
      }
      case 0xca:
        return take(4, (a) => buf.readFloatBE(a));
      case 0xcb:
        return take(8, (a) => buf.readDoubleBE(a));
      case 0xcc:
        return take(1, (a) => buf.readUInt8(a));
      case 0xcd:
        return take(2, (a) => buf.readUInt16BE(a));
      case 0xce:
        return take(4, (a) => buf.readUInt32BE(a));
      case 0xcf:
        return Number(take(8, (a) => buf.readBigUInt64BE(a)));
      case 0xd0:
        return take(1, (a) => buf.readInt8(a));
      case 0xd1:
        return take(2, (a) => buf.readInt16BE(a));
      case 0xd2:
        return take(4, (a) => buf.readInt32BE(a));
      case 0xd3:
        return Number(take(8, (a) => buf.readBigInt64BE(a)));
      case 0xd9:
        return str(take(1, (a) => buf.readUInt8(a)));
      case 0xda:
        return str(take(2, (a) => buf.readUInt16BE(a)));
      case 0xdb:
        return str(take(4, (a) => buf.readUInt32BE(a)));
      case 0xdc:
        return arr(take(2, (a) => buf.readUInt16BE(a)));
      case 0xdd:
        return arr(take(4, (a) => buf.readUInt32BE(a)));
      case 0xde:
        return map(take(2, (a) => buf.readUInt16BE(a)));
      case 0xdf:
        return map(take(4, (a) => buf.readUInt32BE(a)));
      default:
        throw new Error(`not a plain msgpack type: 0x${b.toString(16)} at ${o - 1}`);
    }
  }
  const v = read();
  if (o !== buf.length) throw new Error(`${buf.length - o} trailing bytes`);
  return v;
}

/** fixmap, map16 or map32 (msgpackr writes map16 for small objects). */
const isMapHeader = (b: number | undefined): boolean => b !== undefined && ((b & 0xf0) === 0x80 || b === 0xde || b === 0xdf);

const req: TransRequest = {
  protocol: 'http',
  query_prepared: 'http://busi.test/api/QueryPrepared',
  custom_data: '{"concurrent":false}',
  options: {
    wait_result: true,
    timeout_to_fail: 35,
    request_timeout: 3,
    retry_interval: 0.5,
    branch_headers: { 'x-trace': 'abc', Ünïcödé: '€𝄞' },
    concurrent: false,
    retry_limit: 2 ** 40,
  },
};

const values: [name: string, value: unknown][] = [
  ['a transaction request', req],
  ['a branch row', ['01', 'action', 'http://busi.test/api/TransOut', '{"amount":30}']],
  ['nested maps and arrays', { a: [1, { b: [true, false, null] }], c: {} }],
  ['a long string', 'x'.repeat(70_000)],
  ['many keys', Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i * 1000]))],
  ['a long array', Array.from({ length: 70_000 }, (_, i) => i)],
  ['negative and large integers', [-1, -33, -200, -40_000, -3_000_000_000, 2 ** 53 - 1]],
  ['empty string and zero', ['', 0]],
];

t.test('pack then unpack gives the value back', async (t) => {
  for (const [name, value] of values) {
    t.strictSame(unpack(pack(value)), value, name);
  }
});

t.test('the output is plain msgpack: maps, arrays and scalars a plain reader decodes to the same value', async (t) => {
  for (const [name, value] of values) {
    t.strictSame(plainDecode(pack(value)), value, name);
  }
  t.ok(isMapHeader(pack(req)[0]), 'an object is written as a msgpack map');
  t.equal(pack(['a'])[0], 0x91, 'an array is written as a msgpack array');
});

t.test('the same object shape twice is still written as maps, never as records', async (t) => {
  const a = pack({ x: 1, y: 2 });
  const b = pack({ x: 3, y: 4 });
  t.strictSame(
    [plainDecode(a), plainDecode(b)],
    [
      { x: 1, y: 2 },
      { x: 3, y: 4 },
    ],
    'both decode plainly',
  );
  t.ok(isMapHeader(a[0]), 'the first is a msgpack map');
  t.ok(isMapHeader(b[0]), 'the second did not switch to a record extension');
});

t.test('undefined is written as nil', async (t) => {
  const buf = pack({ a: undefined, b: 1 });
  t.strictSame(plainDecode(buf), { a: null, b: 1 }, 'a plain reader sees nil');
  t.strictSame(unpack(buf), { a: null, b: 1 }, 'and so does unpack');
  t.strictSame(pack(undefined), Buffer.from([0xc0]), 'a bare undefined is nil');
});
