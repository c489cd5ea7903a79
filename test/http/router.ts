/**
 * The router's guarantees on each HTTP backend (native uWS where it loads, and node:http): routing
 * and gin's plain 404, path parameters and query, the bounded body (413, also across chunks), JSON
 * decoding (400) and the raw-body route, load shedding (503), exactly one reply and one metric per
 * request, client aborts (before and after the body), graceful close, an exclusive port that
 * only `sharePort` (`--workers`) shares, request headers for the routes that ask, reply headers,
 * byte bodies and `/*` routes. No Redis: a small route table of test handlers.
 */
import { connect } from 'node:net';
import { pino } from 'pino';
import t from 'tap';
import type { Reply } from '../../src/http/handler.js';
import { ListenError, type HttpBackendName, type HttpServer } from '../../src/http/backend.js';
import { nodeCanSharePort } from '../../src/http/node-backend.js';
import { createRouter, type Router } from '../../src/http/route.js';
import { listen } from '../../src/http/server.js';
import { loadUws } from '../../src/http/uws-backend.js';
import { freePort } from '../../src/store/embedded-redis.js';
import { waitFor } from '../fixtures/app.js';

const log = pino({ level: 'silent' });
const uws = loadUws();
const backends: HttpBackendName[] = uws.ok ? ['uws', 'node'] : ['node'];
if (!uws.ok) t.comment(`uws backend not tested here: ${uws.reason}`);
// The native binary ships for Node 20: there it must load, so both backends are always tested on Node 20.
if (process.versions.modules === '115' && process.platform === 'linux' && process.arch === 'x64') t.ok(uws.ok, 'the native uWS binary loads on Node 20');

const MAX_BODY = 64 * 1024;

interface Harness {
  router: Router;
  server: HttpServer;
  base: string;
  /** Every observation, as `api status`. */
  seen: string[];
  /** Requests the slow route holds; `release(i)` answers the i-th. */
  held: ((r: Reply) => void)[];
  /** Handler invocations of the body route. */
  bodyRuns: number;
  stop: () => Promise<void>;
}

async function start(backend: HttpBackendName, opts: { maxInflight?: number } = {}): Promise<Harness> {
  const h = { seen: [] as string[], held: [] as ((r: Reply) => void)[], bodyRuns: 0 } as Harness;
  h.router = createRouter(
    {
      'ANY /api/ping': () => ({ status: 200, body: { msg: 'pong' } }),
      'GET /api/echo': (req) => ({ status: 200, body: { query: Object.fromEntries(req.query), params: req.params } }),
      'POST /api/echo': (req) => {
        h.bodyRuns++;
        return { status: 200, body: { body: req.body } };
      },
      'POST /api/raw': (req) => ({ status: 200, body: { raw: req.body } }),
      'DELETE /api/topic/:name': (req) => ({ status: 200, body: { params: req.params } }),
      'GET /api/slow': () => new Promise<Reply>((resolve) => h.held.push(resolve)),
      'GET /api/throws': () => {
        throw new Error('sync boom');
      },
      'GET /api/rejects': () => Promise.reject(new Error('async boom')),
      'GET /api/text': () => ({ status: 200, body: 'plain text' }),
      'GET /api/headers': (req) => ({ status: 200, body: { headers: req.meta.headers, remote: req.meta.remote } }),
      'GET /api/no-headers': (req) => ({ status: 200, body: { headers: req.meta.headers, remote: req.meta.remote } }),
      'POST /api/login': () => ({
        status: 200,
        body: '<p>hi</p>',
        contentType: 'text/html; charset=utf-8',
        headers: { 'set-cookie': 's=v1.abc; Path=/; HttpOnly; SameSite=Strict', 'cache-control': 'no-store' },
      }),
      'GET /api/bytes': () => ({ status: 200, body: new Uint8Array([0, 1, 2, 255]), contentType: 'application/octet-stream' }),
      'GET /files': () => ({ status: 200, body: { root: true } }),
      'GET /files/*': (req) => ({ status: 200, body: { params: req.params } }),
    },
    {
      rawBodyRoutes: new Set(['POST /api/raw']),
      headerRoutes: new Set(['GET /api/headers']),
      maxBodyBytes: MAX_BODY,
      maxInflight: opts.maxInflight ?? 100,
      log,
      observe: (api, status) => h.seen.push(`${api} ${status}`),
    },
  );
  h.server = await listen(h.router, { host: '127.0.0.1', port: 0, sharePort: false, backend, log });
  h.base = `http://127.0.0.1:${h.server.port}`;
  h.stop = async () => {
    h.server.close();
    h.server.closeConnections();
  };
  return h;
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; text: string; json: any }> {
  const r = await fetch(url, init);
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, type: r.headers.get('content-type'), text, json };
}

/** Writes raw bytes on a new connection and returns it (for aborts and partial bodies). */
function rawSocket(port: number, bytes: string): Promise<ReturnType<typeof connect>> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(bytes);
      resolve(s);
    });
    s.on('error', reject);
  });
}

for (const backend of backends) {
  t.test(`${backend}: routes, parameters, query, methods and gin's plain 404`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    t.strictSame((await call(`${h.base}/api/ping`)).json, { msg: 'pong' }, 'ANY route answers GET');
    t.strictSame((await call(`${h.base}/api/ping`, { method: 'PUT', body: 'x' })).json, { msg: 'pong' }, 'and PUT');
    const echo = await call(`${h.base}/api/echo?gid=a%20b&x=1&x=2`);
    t.match(echo, { status: 200, type: /^application\/json; charset=utf-8$/ }, 'JSON answer with its content type');
    t.strictSame(echo.json, { query: { gid: 'a b', x: '2' }, params: [] }, 'the query is decoded');
    t.strictSame((await call(`${h.base}/api/topic/a%2Fb`, { method: 'DELETE' })).json, { params: ['a/b'] }, 'a path parameter is percent-decoded');
    t.strictSame((await call(`${h.base}/api/topic/%E0%A4%A`, { method: 'DELETE' })).json, { params: ['%E0%A4%A'] }, 'a malformed escape stays as sent');
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/api/echo'],
      ['GET', '/api/topic/x'],
      ['DELETE', '/api/topic/'],
      ['GET', '/api/echo/'],
    ] as const) {
      const r = await call(`${h.base}${path}`, { method });
      t.strictSame(
        { status: r.status, type: r.type, text: r.text },
        { status: 404, type: 'text/plain; charset=utf-8', text: '404 page not found' },
        `${method} ${path} → plain 404`,
      );
    }
    t.strictSame((await call(`${h.base}/api/text`)).type, 'text/plain; charset=utf-8', 'a string body is plain text');
    t.ok(h.seen.includes('echo 200') && h.seen.includes('topic 200') && h.seen.includes('unknown 404'), 'observed by route name, never an id');
    t.equal(h.router.inflight(), 0, 'nothing in flight');
  });

  t.test(`${backend}: bodies: JSON, empty, raw, invalid (400), too large (413), many chunks`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    t.strictSame((await call(`${h.base}/api/echo`, { method: 'POST', body: '{"a":[1,"é"]}' })).json, { body: { a: [1, 'é'] } }, 'JSON is decoded');
    t.strictSame((await call(`${h.base}/api/echo`, { method: 'POST', body: '' })).json, { body: {} }, 'an empty body is {}');
    t.strictSame((await call(`${h.base}/api/raw`, { method: 'POST', body: '{not json' })).json, { raw: '{not json' }, 'the raw route gets the text');
    const bad = await call(`${h.base}/api/echo`, { method: 'POST', body: '{oops' });
    t.match(bad, { status: 400, json: { message: /^\[DTM_BAD_JSON\]/ } }, 'invalid JSON → 400 with a message');
    const runs = h.bodyRuns;
    const big = await call(`${h.base}/api/echo`, { method: 'POST', body: JSON.stringify({ s: 'x'.repeat(MAX_BODY) }) });
    t.match(big, { status: 413, json: { message: /^\[DTM_BODY_TOO_LARGE\]/ } }, 'over the limit → 413');
    t.equal(h.bodyRuns, runs, 'the handler did not run');
    // A body just under the limit, sent in small pieces on one connection, arrives whole.
    const value = 'y'.repeat(MAX_BODY - 100);
    const body = JSON.stringify({ s: value });
    const s = await rawSocket(h.server.port, `POST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    for (let i = 0; i < body.length; i += 8192) {
      s.write(body.slice(i, i + 8192));
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(() => answer.includes('\r\n\r\n') && answer.endsWith('}}'), 5000, 'the chunked body answer');
    s.destroy();
    t.ok(answer.startsWith('HTTP/1.1 200'), 'a body in many chunks → 200');
    t.strictSame(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { body: { s: value } }, 'and is decoded whole');
    t.equal(h.router.inflight(), 0, 'nothing in flight');
  });

  t.test(`${backend}: a throwing or rejecting handler gives one 500 in DTM's shape; one observation per request`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    t.strictSame(await call(`${h.base}/api/throws`).then((r) => [r.status, r.json]), [500, { message: 'sync boom' }], 'a sync throw → 500');
    t.strictSame(await call(`${h.base}/api/rejects`).then((r) => [r.status, r.json]), [500, { message: 'async boom' }], 'a rejection → 500');
    t.strictSame(h.seen, ['throws 500', 'rejects 500'], 'each request observed once');
  });

  t.test(`${backend}: load shedding: past maxInflight a request gets 503 and the held one still completes`, async (t) => {
    const h = await start(backend, { maxInflight: 1 });
    t.teardown(h.stop);
    const first = call(`${h.base}/api/slow`);
    await waitFor(() => h.held.length === 1, 5000, 'the slow request');
    const shed = await call(`${h.base}/api/echo`);
    t.match(shed, { status: 503, json: { message: /^\[DTM_OVERLOADED\]/ } }, 'the second → 503');
    h.held[0]!({ status: 200, body: { ok: 1 } });
    t.strictSame((await first).json, { ok: 1 }, 'the held one is answered');
    t.strictSame((await call(`${h.base}/api/echo`)).status, 200, 'and the next one is served again');
    t.equal(h.router.inflight(), 0, 'nothing in flight');
  });

  t.test(`${backend}: a client gone before the reply or mid-body: no reply written, nothing left in flight`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    const s = await rawSocket(h.server.port, 'GET /api/slow HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor(() => h.held.length === 1, 5000, 'the slow request');
    s.destroy();
    await waitFor(() => h.router.inflight() === 1 && h.seen.length === 0, 1000, 'the abort to be seen');
    await new Promise((r) => setTimeout(r, 50));
    h.held[0]!({ status: 200, body: { late: true } });
    await waitFor(() => h.router.inflight() === 0, 2000, 'the late reply to end the request');
    t.strictSame(h.seen, ['slow 200'], 'the late reply is observed once and dropped');
    const partial = await rawSocket(h.server.port, 'POST /api/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"a":');
    await waitFor(() => h.router.inflight() === 1, 2000, 'the partial request to begin');
    partial.destroy();
    await waitFor(() => h.router.inflight() === 0, 2000, 'an abort mid-body to end the request');
    t.equal(h.bodyRuns, 0, 'the handler of the unfinished body never ran');
    t.strictSame((await call(`${h.base}/api/ping`)).status, 200, 'the server keeps serving');
  });

  t.test(`${backend}: request headers and the peer address reach only the routes that ask for them`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    const sent = {
      authorization: 'Bearer abc',
      cookie: 'a=1; dtm_admin=v1.x',
      'user-agent': 'router-test',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'accept-encoding': 'gzip',
      'x-other': 'not read',
    };
    const r = await call(`${h.base}/api/headers`, { headers: sent });
    const { 'x-other': _other, ...wanted } = sent;
    t.strictSame(r.json.headers, wanted, 'the listed headers, lower-cased names, and no other');
    t.match(r.json.remote, /^(::ffff:)?127\.0\.0\.1$|^(0000:){5}ffff:7f00:0001$|^::1$/, 'the peer address');
    t.strictSame((await call(`${h.base}/api/no-headers`, { headers: sent })).json, { headers: {}, remote: '' }, 'a route that did not ask gets none');
  });

  t.test(`${backend}: a reply sets headers and its content type; bytes go out as they are`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    const r = await fetch(`${h.base}/api/login`, { method: 'POST', body: '{}' });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', 'the content type the reply chose');
    t.equal(r.headers.get('set-cookie'), 's=v1.abc; Path=/; HttpOnly; SameSite=Strict', 'set-cookie');
    t.equal(r.headers.get('cache-control'), 'no-store', 'cache-control');
    t.equal(await r.text(), '<p>hi</p>');
    const b = await fetch(`${h.base}/api/bytes`);
    t.equal(b.headers.get('content-type'), 'application/octet-stream');
    t.strictSame([...new Uint8Array(await b.arrayBuffer())], [0, 1, 2, 255], 'the bytes, unchanged');
  });

  t.test(`${backend}: a /* route matches every path below it and gets the rest, decoded like a parameter`, async (t) => {
    const h = await start(backend);
    t.teardown(h.stop);
    t.strictSame((await call(`${h.base}/files`)).json, { root: true }, 'the bare path is its own route');
    t.strictSame((await call(`${h.base}/files/`)).json, { params: [''] }, 'the directory: an empty rest');
    t.strictSame((await call(`${h.base}/files/a/b.js?x=1`)).json, { params: ['a/b.js'] }, 'a nested path, without the query');
    t.strictSame((await call(`${h.base}/files/tx/a%2Fb%20c`)).json, { params: ['tx/a/b c'] }, 'percent-decoded, as path parameters are');
    t.equal((await call(`${h.base}/filesx`)).status, 404, 'a longer name is not below it');
    t.ok(h.seen.includes('files 200'), 'observed under the prefix name');
  });

  t.test(`${backend}: graceful close: no new connections, the request in flight is still answered`, async (t) => {
    const h = await start(backend);
    const first = call(`${h.base}/api/slow`);
    await waitFor(() => h.held.length === 1, 5000, 'the slow request');
    h.server.close();
    await t.rejects(fetch(`${h.base}/api/ping`, { headers: { connection: 'close' } }), 'a new connection is refused');
    t.equal(h.router.inflight(), 1, 'one request in flight');
    h.held[0]!({ status: 200, body: { drained: true } });
    t.strictSame((await first).json, { drained: true }, 'the in-flight request got its reply');
    t.equal(h.router.inflight(), 0, 'drained');
    h.server.closeConnections();
  });
}

const pairs: [HttpBackendName, HttpBackendName][] = backends.flatMap((a) => backends.map((b): [HttpBackendName, HttpBackendName] => [a, b]));

t.test('a second server on a busy port fails with a clear error; only sharing servers share it', async (t) => {
  const router = createRouter({}, { maxBodyBytes: 1024, maxInflight: 10, log, observe: () => undefined });
  for (const [first, second] of pairs) {
    const a = await listen(router, { host: '127.0.0.1', port: 0, sharePort: false, backend: first, log });
    const err = await listen(router, { host: '127.0.0.1', port: a.port, sharePort: false, backend: second, log }).then(
      (b) => {
        b.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    t.ok(err instanceof ListenError, `${first} then ${second}: the second fails with a ListenError`);
    t.match(
      err,
      { message: new RegExp(`^\\[DTM_PORT_IN_USE\\] cannot listen on 127\\.0\\.0\\.1:${a.port}: .*in use`) },
      `${first} then ${second}: the message names the code, address and cause`,
    );
    // A --workers process asks to share: it must not join a port that another server holds exclusively.
    const shareErr = await listen(router, { host: '127.0.0.1', port: a.port, sharePort: true, backend: second, log }).then(
      (b) => {
        b.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    t.ok(shareErr instanceof ListenError, `${first} then a sharing ${second}: fails too`);
    a.close();
    a.closeConnections();
  }
  for (const backend of backends) {
    if (backend === 'node' && !nodeCanSharePort()) {
      await t.rejects(
        listen(router, { host: '127.0.0.1', port: 0, sharePort: true, backend, log }),
        { name: 'ListenError', message: /^\[DTM_HTTP_BACKEND\] the node:http backend shares a port .* only on Node ≥ 22\.12/ },
        `node on Node ${process.versions.node}: sharing is refused with a clear error`,
      );
      continue;
    }
    // uSockets sets SO_REUSEPORT only on a given port, never on port 0 (main.ts picks one for --workers too).
    const a = await listen(router, { host: '127.0.0.1', port: await freePort(), sharePort: true, backend, log });
    const b = await listen(router, { host: '127.0.0.1', port: a.port, sharePort: true, backend, log });
    t.equal(b.port, a.port, `${backend}: two sharing servers bind one port (the --workers case)`);
    const exclusive = await listen(router, { host: '127.0.0.1', port: a.port, sharePort: false, backend, log }).catch((e: unknown) => e);
    t.ok(exclusive instanceof ListenError, `${backend}: an exclusive server cannot join the shared port`);
    for (const s of [a, b]) {
      s.close();
      s.closeConnections();
    }
  }
});

t.test(
  'where no native binary loads: auto serves with node:http and says why; HTTP_BACKEND=uws refuses to start',
  { skip: uws.ok ? 'a native uWS binary loads here' : false },
  async (t) => {
    const router = createRouter({}, { maxBodyBytes: 1024, maxInflight: 10, log, observe: () => undefined });
    const lines: Record<string, unknown>[] = [];
    const captured = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const server = await listen(router, { host: '127.0.0.1', port: 0, sharePort: false, backend: 'auto', log: captured });
    t.equal(server.backend, 'node', 'auto → node:http');
    server.close();
    server.closeConnections();
    t.match(
      lines.find((l) => l['level'] === 40),
      { msg: /no native uWebSockets\.js binary loads on this runtime: serving with node:http/, reason: /uws_.*_\d+\.node: / },
      'a warning names every binary tried and why it did not load',
    );
    t.match(
      lines.find((l) => l['msg'] === 'HTTP server listening'),
      { backend: 'node', server: 'node:http' },
      'the start-up line names node:http',
    );
    await t.rejects(
      listen(router, { host: '127.0.0.1', port: 0, sharePort: false, backend: 'uws', log }),
      { name: 'ListenError', message: /^\[DTM_HTTP_BACKEND\] HTTP_BACKEND=uws, but no native uWebSockets\.js binary loads here: / },
      'uws insisted on: a clear start-up error',
    );
  },
);
