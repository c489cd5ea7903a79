/**
 * The console's server side over HTTP, on each backend: who may call what (ADMIN_TOKEN, API_TOKEN,
 * ADMIN_PROTECT_READS/METRICS; Bearer and the session cookie; 401 JSON), the static files
 * (types, caching, gzip, the page fallback, no way out of the directory), bulk batches, and the
 * live counters. The browser test (test/browser/console.ts) drives the same through Chromium.
 */
import { connect } from 'node:net';
import t from 'tap';
import { loadUws } from '../../src/http/uws-backend.js';
import { startTestApp, type TestApp } from '../fixtures/app.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

const ADMIN = 'admin-token-for-http-tests-0001';
const API = 'api-token-for-http-tests-00002';
const backends = loadUws().ok ? ['uws', 'node'] : ['node'];

let redis: TestRedis;
t.before(async () => {
  redis = await startTestRedis();
});
t.teardown(() => redis.stop());

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const r = await fetch(url, init);
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A raw request line, for paths fetch would normalise (`..`). */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('end', () => resolve(answer));
    s.on('error', reject);
  });
}

const ADMIN_CALLS: [string, string, unknown?][] = [
  ['GET', '/api/dtmsvr/all'],
  ['POST', '/api/dtmsvr/forceStop', { gid: 'g' }],
  ['GET', '/api/dtmsvr/resetCronTime'],
  ['POST', '/api/dtmsvr/resetNextCronTime', { gid: 'g' }],
  ['GET', '/api/dtmsvr/subscribe?topic=t&url=http://127.0.0.1:9/x'],
  ['GET', '/api/dtmsvr/unsubscribe?topic=t&url=http://127.0.0.1:9/x'],
  ['DELETE', '/api/dtmsvr/topic/t'],
  ['GET', '/api/dtmsvr/queryKV?cat=topics'],
  ['GET', '/api/dtmsvr/scanKV?cat=topics'],
  ['GET', '/api/admin/session'],
  ['GET', '/api/admin/transactions'],
  ['GET', '/api/admin/transactions/g'],
  ['POST', '/api/admin/transactions/g/force-stop', {}],
  ['POST', '/api/admin/transactions/g/retry', {}],
  ['POST', '/api/admin/bulk', { action: 'retry', filter: {}, position: '' }],
  ['GET', '/api/admin/stats'],
  ['GET', '/api/admin/topics'],
  ['POST', '/api/admin/topics/subscribe', { topic: 't', url: 'http://127.0.0.1:9/x' }],
  ['POST', '/api/admin/topics/unsubscribe', { topic: 't', url: 'http://127.0.0.1:9/x' }],
];

function send(app: TestApp, [method, path, body]: [string, string, unknown?], headers: Record<string, string> = {}): ReturnType<typeof call> {
  return call(`${app.base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

for (const backend of backends) {
  t.test(`${backend}: with ADMIN_TOKEN, every admin endpoint needs it; DTM's client endpoints stay open`, async (t) => {
    const app = await startTestApp({ redis, env: { HTTP_BACKEND: backend, ADMIN_TOKEN: ADMIN } });
    t.teardown(() => app.stop());
    for (const c of ADMIN_CALLS) {
      const r = await send(app, c);
      t.equal(r.status, 401, `${c[0]} ${c[1]}: 401 without a token`);
      t.match(r.json, { message: /^\[DTM_UNAUTHORIZED\]/ }, 'JSON that says why');
      t.equal(r.headers.get('www-authenticate'), 'Bearer realm="dtm-redis"', 'and names the scheme');
      t.equal((await send(app, c, bearer(`${ADMIN}x`))).status, 401, 'a wrong token: 401');
      t.not((await send(app, c, bearer(ADMIN))).status, 401, 'the admin token: let through');
    }
    const gid = `open-${backend}-${Date.now()}`;
    t.match(await call(`${app.dtm}/newGid`), { status: 200 }, 'newGid is open');
    t.match(
      await call(`${app.dtm}/prepare`, {
        method: 'POST',
        body: JSON.stringify({ gid, trans_type: 'msg', steps: [], payloads: [], query_prepared: 'http://127.0.0.1:9/q' }),
      }),
      {
        status: 200,
      },
    );
    t.match(
      await call(`${app.dtm}/abort`, { method: 'POST', body: JSON.stringify({ gid, trans_type: 'msg' }) }),
      { status: 200 },
      'prepare and abort are open',
    );
    t.match(await call(`${app.dtm}/query?gid=${gid}`), { status: 200, json: { transaction: { status: 'failed' } } }, 'query is open by default');
    t.match(await call(`${app.base}/api/metrics`), { status: 200 }, 'so are the metrics');
    t.match(
      await call(`${app.base}/api/json-rpc`, { method: 'POST', body: '{"jsonrpc":"2.0","id":1,"method":"newGid"}' }),
      { status: 200, json: { error: null } },
      'and JSON-RPC',
    );
  });

  t.test(`${backend}: API_TOKEN closes the client endpoints; ADMIN_PROTECT_READS and ADMIN_PROTECT_METRICS close query and metrics`, async (t) => {
    const app = await startTestApp({
      redis,
      env: { HTTP_BACKEND: backend, ADMIN_TOKEN: ADMIN, API_TOKEN: API, ADMIN_PROTECT_READS: '1', ADMIN_PROTECT_METRICS: '1' },
    });
    t.teardown(() => app.stop());
    const newGid = `${app.dtm}/newGid`;
    t.equal((await call(newGid)).status, 401, 'newGid without a token: 401');
    t.equal((await call(newGid, { headers: bearer(API) })).status, 200, 'with the API token: 200');
    t.equal((await call(newGid, { headers: bearer(ADMIN) })).status, 200, 'the admin token opens it too');
    t.equal((await call(`${app.base}/api/json-rpc`, { method: 'POST', body: '{"jsonrpc":"2.0","id":1,"method":"newGid"}' })).status, 401, 'JSON-RPC: 401');
    t.equal((await call(`${app.dtm}/all`, { headers: bearer(API) })).status, 401, 'the API token does not open admin endpoints');
    t.equal((await call(`${app.dtm}/query?gid=x`, { headers: bearer(API) })).status, 401, 'query is an admin read now');
    t.equal((await call(`${app.dtm}/query?gid=x`, { headers: bearer(ADMIN) })).status, 200, 'for the admin token');
    t.equal((await call(`${app.base}/api/metrics`)).status, 401, 'metrics need the admin token');
    t.equal((await call(`${app.base}/api/metrics`, { headers: bearer(ADMIN) })).status, 200, 'and get it');
    t.equal((await call(`${app.base}/api/ping`)).status, 200, 'ping stays open');
    t.equal((await call(`${app.dtm}/version`)).status, 200, 'version stays open');
  });

  t.test(`${backend}: the session cookie: login, HttpOnly SameSite=Strict (Secure behind TLS), tampering, expiry, logout`, async (t) => {
    const app = await startTestApp({ redis, env: { HTTP_BACKEND: backend, ADMIN_TOKEN: ADMIN, ADMIN_SESSION_HOURS: '1' } });
    t.teardown(() => app.stop());
    const login = (token: string, headers: Record<string, string> = {}) =>
      call(`${app.base}/api/admin/login`, { method: 'POST', headers, body: JSON.stringify({ token }) });
    const wrong = await login('nope');
    t.match(wrong, { status: 401, json: { message: /wrong token/ } }, 'a wrong token: 401');
    t.equal(wrong.headers.get('set-cookie'), null, 'and no cookie');
    const ok = await login(ADMIN);
    t.match(ok.json, { authenticated: true, auth_required: true, who: /^admin \(session [0-9a-f]{8}\)$/ });
    const cookie = ok.headers.get('set-cookie') ?? '';
    t.match(
      cookie,
      /^dtm_admin=v1\.[0-9a-z]+\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Strict$/,
      'HttpOnly, SameSite=Strict, not Secure over plain HTTP',
    );
    t.match((await login(ADMIN, { 'x-forwarded-proto': 'https' })).headers.get('set-cookie'), /; Secure$/, 'Secure behind a TLS proxy');
    const value = cookie.slice(0, cookie.indexOf(';'));
    const session = (c: string) => call(`${app.base}/api/admin/session`, { headers: { cookie: `other=1; ${c}` } });
    t.match(await session(value), { status: 200, json: { authenticated: true } }, 'the cookie opens the console API');
    t.equal((await call(`${app.dtm}/all`, { headers: { cookie: value } })).status, 200, 'and the admin endpoints');
    const tampered = value.replace(/\.([0-9a-z]+)\./, (_m, exp: string) => `.${(parseInt(exp, 36) + 1000).toString(36)}.`);
    t.equal((await session(tampered)).status, 401, 'a longer expiry with the old signature: 401');
    t.equal((await session(`${value.slice(0, -2)}AA`)).status, 401, 'a changed signature: 401');
    app.clock.advance(3_600_001);
    t.equal((await session(value)).status, 401, 'an hour later the session has expired');
    const out = await call(`${app.base}/api/admin/logout`, { method: 'POST', body: '{}' });
    t.match(out.headers.get('set-cookie'), /^dtm_admin=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/, 'logout clears the cookie');
  });

  t.test(`${backend}: without ADMIN_TOKEN the console is open and says so`, async (t) => {
    const app = await startTestApp({ redis, env: { HTTP_BACKEND: backend } });
    t.teardown(() => app.stop());
    t.match(await call(`${app.base}/api/admin/session`), { status: 200, json: { authenticated: true, auth_required: false, who: 'anyone' } });
    t.match(await call(`${app.dtm}/all`), { status: 200 }, 'all is open, as in DTM');
  });

  t.test(`${backend}: the console's files: types, caching, gzip, the page fallback, and no way out of the directory`, async (t) => {
    const app = await startTestApp({ redis, env: { HTTP_BACKEND: backend } });
    t.teardown(() => app.stop());
    const root = await call(`${app.base}/`, { redirect: 'manual' });
    t.match(root, { status: 302 }, '/ redirects');
    t.equal(root.headers.get('location'), '/admin/', 'to the console');
    for (const path of ['/admin', '/admin/', '/admin/live', '/admin/tx/order.42', '/admin/tx/a%2Fb']) {
      const r = await call(`${app.base}${path}`);
      t.equal(r.status, 200, `${path}: 200`);
      t.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', `${path}: the page`);
      t.equal(r.headers.get('cache-control'), 'no-cache', `${path}: revalidated on every load`);
      t.match(r.headers.get('content-security-policy'), /default-src 'self'; script-src 'self'/, `${path}: a strict CSP`);
      t.equal(r.headers.get('x-frame-options'), 'DENY');
      t.match(r.text, /<div id="app"><\/div>/, `${path}: index.html`);
    }
    const page = (await call(`${app.base}/admin/`)).text;
    const js = /src="\/admin\/(assets\/[^"]+\.js)"/.exec(page)?.[1];
    const css = /href="\/admin\/(assets\/[^"]+\.css)"/.exec(page)?.[1];
    t.ok(js !== undefined && css !== undefined, 'the page names its hashed script and stylesheet');
    const script = await call(`${app.base}/admin/${js!}`, { headers: { 'accept-encoding': 'identity' } });
    t.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8', 'the script type');
    t.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'hashed files are cached for a year');
    t.equal(script.headers.get('x-content-type-options'), 'nosniff');
    t.equal(script.headers.get('content-encoding'), null, 'not gzipped when not accepted');
    const gz = await fetch(`${app.base}/admin/${js!}`, { headers: { 'accept-encoding': 'gzip' } });
    t.equal(gz.headers.get('content-encoding'), 'gzip', 'gzipped when accepted');
    t.equal(await gz.text(), script.text, 'the same script');
    t.equal((await call(`${app.base}/admin/${css!}`)).headers.get('content-type'), 'text/css; charset=utf-8', 'the stylesheet type');
    for (const path of ['/admin/assets/index-missing.js', '/admin/favicon.ico'])
      t.equal((await call(`${app.base}${path}`)).status, 404, `${path}: 404, not the page`);
    for (const path of ['/admin/../package.json', '/admin/..%2Fpackage.json', '/admin/%2e%2e/%2e%2e/package.json', '/admin/assets/../../package.json']) {
      const raw = await rawGet(app.app.port(), path);
      t.notMatch(raw, /dtm-redis-coordinator/, `${path}: never a file outside dist/console`);
    }
  });

  t.test(`${backend}: bulk batches walk a filter to its end, act on the unfinished, and refuse bad input`, async (t) => {
    const app = await startTestApp({ redis, env: { HTTP_BACKEND: backend, ADMIN_TOKEN: ADMIN } });
    t.teardown(() => app.stop());
    const prefix = `bulk-${backend}-${Date.now()}-`;
    for (let i = 0; i < 7; i++) {
      const r = await app.post('prepare', { gid: `${prefix}${i}`, trans_type: 'msg', steps: [], payloads: [], query_prepared: 'http://127.0.0.1:9/q' });
      t.equal(r.status, 200);
    }
    const stats = await call(`${app.base}/api/admin/stats`, { headers: bearer(ADMIN) });
    t.match(stats.json, { backlog: { prepared: 7 }, rates: { submits: Number } }, 'the live counters see the seven prepared');
    const bulk = (body: unknown) => call(`${app.base}/api/admin/bulk`, { method: 'POST', headers: bearer(ADMIN), body: JSON.stringify(body) });
    let position = '';
    let done = 0;
    let batches = 0;
    for (;;) {
      const r = await bulk({
        action: 'force-stop',
        filter: { status: 'prepared', gid_prefix: prefix },
        position,
        limit: 3,
        run: { id: 'r1', done_before: done },
      });
      t.equal(r.status, 200);
      t.ok(r.json.done <= 3, 'a batch acts on at most its limit');
      done += r.json.done;
      batches++;
      position = r.json.next_position;
      if (r.json.finished) break;
      t.not(position, '', 'an unfinished walk names where it goes on');
    }
    t.equal(done, 7, 'all seven stopped');
    t.ok(batches >= 3, `in ${batches} batches`);
    for (let i = 0; i < 7; i++) t.equal((await app.query(`${prefix}${i}`)).transaction.status, 'failed', `${prefix}${i} failed`);
    const again = await bulk({ action: 'retry', filter: { gid_prefix: prefix }, position: '', limit: 100 });
    t.match(again.json, { done: 0, skipped: 7, finished: true }, 'finished ones are skipped');
    t.match(await bulk({ action: 'delete', filter: {} }), { status: 400, json: { message: /action must be one of force-stop, retry/ } });
    t.match(await bulk({ action: 'force-stop', filter: { status: 'succeed' } }), { status: 400 }, 'force-stopping succeeded ones is refused');
    t.match(await bulk({ action: 'retry', filter: {}, limit: 100_000 }), { status: 400 }, 'a batch is bounded');
    t.match(await bulk({ action: 'retry', filter: { create_time_start: 'yesterday' } }), { status: 400 }, 'a bad filter is refused');
    const list = await call(`${app.base}/api/admin/transactions?gid_prefix=${encodeURIComponent(`${prefix}3`)}`, { headers: bearer(ADMIN) });
    t.match(
      list.json,
      { transactions: [{ gid: `${prefix}3`, status: 'failed', trans_type: 'msg' }], exact: { gid: `${prefix}3` } },
      'the list filters by gid prefix',
    );
    const detail = await call(`${app.base}/api/admin/transactions/${encodeURIComponent(`${prefix}3`)}`, { headers: bearer(ADMIN) });
    t.match(detail.json, { transaction: { gid: `${prefix}3`, status: 'failed' }, branches: [], now: Number }, 'the detail is DTM query shape');
    t.match(await call(`${app.base}/api/admin/transactions/nope`, { headers: bearer(ADMIN) }), { status: 404, json: { message: /DTM_NOT_FOUND/ } });
  });
}
