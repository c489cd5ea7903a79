/**
 * Only executable input is accepted: the branch URL and header rules, and a property test that
 * generates hostile and ordinary transactions and checks that whatever the parser accepts is a
 * call the HTTP client makes (it reaches the connection stage, instead of being refused
 * locally on every try).
 */
import { Agent } from 'undici';
import t from 'tap';
import { callBranch } from '../../src/trans/branch-call.js';
import { assertBranchHeaders, assertBranchUrl, branchHost } from '../../src/trans/branch-target.js';
import { parseTransBody } from '../../src/trans/request.js';
import { strategies } from '../../src/trans/strategies.js';

t.test('a branch URL must parse, be http(s), name a host and a port from 1 to 65535', async (t) => {
  const refused = [
    'http://127.0.0.1:99999/x',
    'http://127.0.0.1:65536/x',
    'http://127.0.0.1:0/x',
    'http://[::1/x',
    'http://%zz/x',
    'http://a b/x',
    'ftp://h/x',
    'file:///etc/passwd',
    'topic://orders',
    'h/x',
    'http://',
    'http://u%zz:p@h/x',
  ];
  for (const url of refused) t.throws(() => assertBranchUrl(url, 'url'), { name: 'BadRequestError', message: /^\[DTM_BAD_URL\]/ }, `${url}: 400 DTM_BAD_URL`);
  const accepted = ['', 'http://127.0.0.1:1/x', 'https://h:65535/x?a=b', 'http://[::1]:8080/x', 'HTTP://H/x', 'http://u:p@h/x', 'http://h/x y'];
  for (const url of accepted) t.doesNotThrow(() => assertBranchUrl(url, 'url'), `${JSON.stringify(url)} is accepted`);
});

t.test('a URL found valid is remembered with its host; one refused is refused every time', async (t) => {
  const url = 'http://User:P@[::FFFF:7F00:1]:8080/x?y=1';
  t.equal(branchHost(url, 'http'), '::ffff:7f00:1', 'the host, parsed');
  t.doesNotThrow(() => assertBranchUrl(url, 'url'), 'valid');
  t.equal(branchHost(url, 'http'), '::ffff:7f00:1', 'the same host once remembered');
  t.equal(branchHost('http://Svc.Example:1/x', 'grpc'), 'svc.example', 'an http URL in a gRPC transaction is an http call');
  for (let i = 0; i < 2; i++) t.throws(() => assertBranchUrl('http://127.0.0.1:0/x', 'url'), { message: /port 0/ }, `refused (${i + 1})`);
  t.equal(branchHost('127.0.0.1:50051/pkg.Svc/M', 'grpc'), '127.0.0.1', 'a gRPC target is not an http URL');
  for (let i = 0; i < 5000; i++) assertBranchUrl(`http://h${i}.test/x`, 'url');
  t.equal(branchHost('http://h1.test/x', 'http'), 'h1.test', 'after more URLs than are remembered, a URL is still answered right');
});

t.test('branch headers must be tokens the call does not own, with values a header can carry', async (t) => {
  const refused: Record<string, string>[] = [
    { 'x y': 'v' },
    { 'x:y': 'v' },
    { '': 'v' },
    { 'x-é': 'v' },
    { 'x-a': 'line\r\nInjected: 1' },
    { 'x-a': 'a\nb' },
    { 'x-a': 'nul\u0000' },
    { 'x-a': 'emoji 😀' },
    { 'Content-Length': '5' },
    { 'transfer-encoding': 'chunked' },
    { connection: 'close' },
    { expect: '100-continue' },
  ];
  for (const h of refused) t.throws(() => assertBranchHeaders(h), { name: 'BadRequestError', message: /^\[DTM_BAD_HEADER\]/ }, `${JSON.stringify(h)}: 400`);
  for (const h of [{ 'X-Request-Id': 'abc' }, { authorization: 'Bearer x' }, { 'x-a': 'tab\tand café' }, {}]) {
    t.doesNotThrow(() => assertBranchHeaders(h), `${JSON.stringify(h)} is accepted`);
  }
});

/** A small seeded PRNG (mulberry32), so a failing case can be reproduced from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = [
  'a',
  'Z',
  '0',
  '-',
  '.',
  '_',
  '~',
  '/',
  '?',
  '#',
  '&',
  '=',
  '%',
  '%20',
  '%zz',
  ' ',
  '\t',
  '\r',
  '\n',
  '\u0000',
  ':',
  '@',
  '[',
  ']',
  '{',
  '}',
  '|',
  '\\',
  '^',
  '`',
  '"',
  "'",
  '<',
  '>',
  'é',
  '😀',
  '\u00ff',
  '\u0100',
  ',',
  ';',
  '!',
  '*',
  '(',
  ')',
  '$',
  '+',
];

t.test('property: every transaction the parser accepts has branch calls the HTTP client makes', async (t) => {
  const random = rng(20261201);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const text = (max: number): string => Array.from({ length: Math.floor(random() * max) }, () => pick(CHARS)).join('');
  const url = (): string =>
    pick(['http', 'https', 'HTTP', 'ftp', '', 'hTTps']) +
    pick(['://', ':/', '//', ':', '://']) +
    pick(['', '', 'u@', 'u:p@', '@', '%zz@', `${text(4)}@`]) +
    pick([
      '127.0.0.1',
      'localhost',
      '[::1]',
      '[::1',
      '::1',
      'example.com',
      'ex ample',
      '%zz',
      'a..b',
      '0x7f.1',
      'ｅｘ.com',
      '',
      'xn--n3h.com',
      '-a.com',
      'a_b.com',
      '999.1.1.1',
      text(6),
    ]) +
    pick(['', '', ':0', ':1', ':80', ':65535', ':65536', ':99999', ':-1', ':abc', ':', ':080']) +
    pick(['', '/', `/${text(8)}`, `/x?${text(6)}`, `/${text(4)}#${text(3)}`]);
  const headers = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (let i = Math.floor(random() * 3); i > 0; i--)
      out[pick(['x-a', 'X-Trace', 'authorization', text(5), 'content-type', 'host'])] = pick(['v', '', text(8)]);
    return out;
  };
  // Every connection attempt fails with a sentinel: reaching it proves undici accepted the request.
  const dispatcher = new Agent({ connect: (_opts, cb) => cb(new Error('SENTINEL: connect reached'), null) });
  t.teardown(() => dispatcher.close());
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const action = url();
    const branch_headers = headers();
    let branches;
    try {
      const body = parseTransBody({ gid: `p-${i}`, trans_type: 'saga', steps: [{ action, compensate: '' }], payloads: ['{}'], branch_headers });
      branches = strategies.saga.branchesOf(body, new Map());
    } catch (err) {
      if ((err as Error).name !== 'BadRequestError') throw err;
      refused++;
      continue;
    }
    accepted++;
    const outcome = await callBranch(dispatcher, {
      url: branches[1]!.url,
      method: 'POST',
      body: '{}',
      query: { gid: `p-${i}`, trans_type: 'saga', branch_id: '01', op: 'action' },
      headers: branch_headers,
      timeoutMs: 1000,
    });
    if (!outcome.detail.includes('SENTINEL')) {
      t.fail(
        `case ${i}: accepted ${JSON.stringify(action)} with headers ${JSON.stringify(branch_headers)}, but the call never got to connect: ${outcome.detail}`,
      );
      return;
    }
  }
  t.ok(accepted > 300, `${accepted} accepted cases, each called`);
  t.ok(refused > 300, `${refused} refused cases`);
});
