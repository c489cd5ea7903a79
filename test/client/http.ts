/**
 * The SDK's HTTP client (src/client/http.ts) against a local node:http server: keep-alive
 * connections are reused, answers are read whole (split chunks, multi-byte characters), and
 * transport errors, timeouts and bad URLs surface as the documented errors.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import t from 'tap';
import { Agent } from 'undici';
import { callBranchUrl, callDtm, closeDtmHttp, configureDtmHttp, DtmClientError, FailureError, httpCall, OngoingError } from '../../src/client/index.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base = '';
let connections = 0;
const sockets = new Set<Socket>();
const seen: Seen[] = [];

const routes: Record<string, (req: IncomingMessage, res: ServerResponse, body: string) => void> = {
  '/ok': (_req, res) => res.end('{"dtm_result":"SUCCESS"}'),
  '/echo': (req, res, body) => res.end(JSON.stringify({ method: req.method, url: req.url, body })),
  // Never answers: the client's timeout must end the call.
  '/silent': () => undefined,
  // Headers at once, then a body that never finishes: the body timeout must end the call.
  '/stall-body': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"dtm_result":');
  },
  // Closes the connection before any answer.
  '/hang-up': (req) => req.socket.destroy(),
  // A body in three writes, with a 3-byte character split across two of them.
  '/chunks': (_req, res) => {
    const euro = Buffer.from('€', 'utf8');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(Buffer.concat([Buffer.from('{"message":"'), euro.subarray(0, 1)]));
    setTimeout(() => {
      res.write(Buffer.concat([euro.subarray(1), Buffer.from('x'.repeat(70_000))]));
      setTimeout(() => res.end('"}'), 5);
    }, 5);
  },
  '/not-json': (_req, res) => res.end('<html>hi</html>'),
  '/failure': (_req, res) => res.end('{"dtm_result":"FAILURE","message":"no"}'),
  '/conflict': (_req, res) => {
    res.statusCode = 409;
    res.end('{"message":"taken"}');
  },
  '/ongoing': (_req, res) => {
    res.statusCode = 425;
    res.end('{"dtm_result":"ONGOING"}');
  },
};

t.before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const path = (req.url ?? '').split('?')[0]!;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const route = routes[path];
      if (route === undefined) {
        res.statusCode = 404;
        res.end('{"message":"no route"}');
      } else route(req, res, body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

t.teardown(async () => {
  await closeDtmHttp();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

/** One turn of the event loop: undici reuses a keep-alive socket only after one (see below). */
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('keep-alive: calls reuse their connections', async (t) => {
  await closeDtmHttp();
  connections = 0;
  for (let i = 0; i < 50; i++) {
    t.equal((await httpCall(`${base}/ok`)).status, 200);
    await nextTurn();
  }
  t.equal(connections, 1, '50 sequential calls, 1 connection');
  connections = 0;
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 8 }, () => callDtm(base, 'ok', { body: {} })));
    await nextTurn();
  }
  t.ok(connections <= 7, `5 rounds of 8 concurrent calls opened ${connections} more connections (≤ 7 beyond the one open)`);
  // With one request per connection (no pipelining), undici waits a loop turn before it reuses a
  // socket whose answer just completed, in case the server closes it; a call issued at once takes
  // another connection. Back to back, two connections take turns.
  connections = 0;
  for (let i = 0; i < 50; i++) await httpCall(`${base}/ok`);
  t.ok(connections <= 1, `50 back-to-back calls opened ${connections} more connection(s) (≤ 1)`);
});

t.test('requests: method from the body, JSON content type, caller headers, query appended to the URL', async (t) => {
  seen.length = 0;
  const get = JSON.parse((await httpCall(`${base}/echo?a=1`, { query: { gid: 'g 1&x', op: 'msg' } })).text) as Seen;
  t.equal(get.method, 'GET', 'no body → GET');
  t.equal(get.url, '/echo?a=1&gid=g+1%26x&op=msg', "the URL's query is kept, the call's is encoded and appended");
  const post = JSON.parse((await httpCall(`${base}/echo`, { body: { amount: 30 }, headers: { 'x-trace': 't1' } })).text) as Seen;
  t.strictSame([post.method, post.url, post.body], ['POST', '/echo', '{"amount":30}'], 'a body → POST, JSON-encoded');
  t.equal(seen[1]?.headers['content-type'], 'application/json', 'JSON content type');
  t.equal(seen[1]?.headers['x-trace'], 't1', "the caller's header");
  const raw = JSON.parse((await httpCall(`${base}/echo`, { method: 'POST', body: 'as is', headers: { 'content-type': 'text/plain' } })).text) as Seen;
  t.equal(raw.body, 'as is', 'a string body is sent as it is');
  t.equal(seen[2]?.headers['content-type'], 'text/plain', 'the caller may override the content type');
  const q = JSON.parse((await httpCall(`${base}/echo`, { query: {} })).text) as Seen;
  t.equal(q.url, '/echo', 'an empty query adds nothing');
});

t.test('answers are read whole: split chunks, a character split across them, 70 KB', async (t) => {
  const reply = await httpCall(`${base}/chunks`);
  t.equal(reply.status, 200);
  t.equal(reply.text, `{"message":"€${'x'.repeat(70_000)}"}`, 'the body, intact');
  t.equal((await httpCall(`${base}/ok`)).text, '{"dtm_result":"SUCCESS"}', 'a one-chunk body');
});

t.test('timeouts: no answer, or a body that stalls, is a DtmClientError; the client still works after', async (t) => {
  const started = Date.now();
  const err = await httpCall(`${base}/silent`, { timeoutMs: 200 }).catch((e: unknown) => e);
  t.type(err, DtmClientError, 'headers timeout → DtmClientError');
  t.match((err as DtmClientError).message, `GET ${base}/silent: `, 'the message names the method and URL');
  t.equal((err as DtmClientError).status, undefined, 'no HTTP status');
  t.ok((err as DtmClientError).cause, 'the transport error is the cause');
  t.ok(Date.now() - started < 5_000, `ended by the timeout (${Date.now() - started} ms)`);
  await t.rejects(httpCall(`${base}/stall-body`, { timeoutMs: 200 }), DtmClientError, 'body timeout → DtmClientError');
  configureDtmHttp({ timeoutMs: 150 });
  try {
    await t.rejects(callDtm(base, 'silent'), DtmClientError, 'the configured timeout applies to callDtm');
  } finally {
    configureDtmHttp({ timeoutMs: 10_000 });
  }
  t.equal((await httpCall(`${base}/ok`)).status, 200, 'later calls succeed');
});

t.test('transport errors: refused, hung up, bad URLs', async (t) => {
  await t.rejects(
    httpCall('http://127.0.0.1:1/x', { body: {} }),
    { name: 'DtmClientError', message: /^POST http:\/\/127\.0\.0\.1:1\/x: / },
    'connection refused',
  );
  await t.rejects(httpCall(`${base}/hang-up`), DtmClientError, 'the server closed the connection');
  await t.rejects(httpCall('not a url'), TypeError, 'not a URL → TypeError, as new URL throws');
  const bad = { call: (): Promise<unknown> => httpCall(`${base}/ok`, { body: { n: 1n } }) };
  let thrown: unknown;
  try {
    await bad.call().catch(() => undefined);
  } catch (err) {
    thrown = err;
  }
  t.equal(thrown, undefined, 'a body JSON cannot encode rejects the promise, it does not throw');
  await t.rejects(bad.call(), TypeError, "… with JSON.stringify's TypeError");
  await t.rejects(httpCall('ftp://127.0.0.1/x'), { name: 'DtmClientError', message: /unsupported protocol ftp:/ }, 'not http(s)');
  t.equal((await httpCall(`${base}/ok`)).status, 200, 'later calls succeed');
});

t.test('callDtm and callBranchUrl map the answers', async (t) => {
  t.strictSame(await callDtm(`${base}/`, 'ok', { body: {} }), { dtm_result: 'SUCCESS' }, 'the parsed object (a trailing / on the server is dropped)');
  await t.rejects(callDtm(base, 'not-json'), { name: 'DtmClientError', status: 200 }, 'an answer that is not JSON');
  await t.rejects(callDtm(base, 'failure'), FailureError, 'FAILURE in the body');
  await t.rejects(callDtm(base, 'conflict'), { name: 'FailureError', message: 'taken' }, '409');
  await t.rejects(callDtm(base, 'nowhere'), { name: 'DtmClientError', status: 404 }, 'another status');
  await t.rejects(callBranchUrl(`${base}/ongoing`), OngoingError, 'a branch answering 425');
  t.equal((await callBranchUrl(`${base}/ok`)).status, 200, 'a branch answering 200');
});

t.test('configureDtmHttp: a dispatcher of your own carries the calls; closeDtmHttp leaves it open', async (t) => {
  const mine = new Agent({ connections: 2 });
  let dispatched = 0;
  const counting = mine.compose((dispatch) => (opts, handler) => {
    dispatched++;
    return dispatch(opts, handler);
  });
  configureDtmHttp({ dispatcher: counting });
  try {
    await Promise.all([httpCall(`${base}/ok`), callDtm(base, 'ok'), callBranchUrl(`${base}/ok`)]);
    t.equal(dispatched, 3, 'every call went through it');
    await closeDtmHttp();
    t.notOk(mine.closed, "closeDtmHttp does not close the caller's dispatcher");
  } finally {
    await closeDtmHttp();
    await mine.close();
  }
  t.equal((await httpCall(`${base}/ok`)).status, 200, 'after closeDtmHttp the SDK opens its own agent again');
});
