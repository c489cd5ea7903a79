/** auth.ts and access.ts without HTTP: token checks, sessions, access levels, and the start-up warnings. */
import t from 'tap';
import { accessOf, adminWarnings, isLoopbackHost } from '../../src/http/access.js';
import { cookieValue, createAuth, requestSource, sameSecret, SESSION_COOKIE } from '../../src/http/auth.js';
import type { RequestMeta } from '../../src/http/handler.js';
import { createHash } from 'node:crypto';

const meta = (headers: RequestMeta['headers'], remote = '10.0.0.5'): RequestMeta => ({ headers, remote });

t.test('sameSecret compares digests: equal only for the same text, whatever the lengths', async (t) => {
  const d = createHash('sha256').update('s3cret').digest();
  t.ok(sameSecret('s3cret', d));
  for (const other of ['', 's3cre', 's3cret ', 'S3cret', 's3cret'.repeat(100)]) t.notOk(sameSecret(other, d), JSON.stringify(other));
});

t.test('cookieValue finds one cookie among several', async (t) => {
  t.equal(cookieValue('a=1; dtm_admin=v1.x.y; b=2', SESSION_COOKIE), 'v1.x.y');
  t.equal(cookieValue('xdtm_admin=1', SESSION_COOKIE), undefined, 'not a suffix match');
  t.equal(cookieValue(undefined, SESSION_COOKIE), undefined);
  t.equal(cookieValue('dtm_admin=', SESSION_COOKIE), '', 'an empty value is empty');
});

t.test('check: levels, bearer tokens, sessions and their expiry', async (t) => {
  let now = 1_000_000;
  const auth = createAuth({ adminToken: 'admin-token', apiToken: 'api-token', sessionTtlMs: 60_000, now: () => now });
  t.ok(auth.adminRequired);
  t.strictSame(auth.check(meta({}), 'open'), { who: 'anyone', from: '10.0.0.5' }, 'open needs nothing');
  t.throws(() => auth.check(meta({}), 'admin'), { name: 'UnauthorizedError', status: 401 });
  t.throws(() => auth.check(meta({}), 'client'), { name: 'UnauthorizedError' });
  t.equal(auth.check(meta({ authorization: 'Bearer admin-token' }), 'admin').who, 'admin (bearer)');
  t.equal(
    auth.check(meta({ authorization: 'bearer   admin-token ' }), 'client').who,
    'admin (bearer)',
    'the scheme is case-insensitive; the admin token opens client routes',
  );
  t.equal(auth.check(meta({ authorization: 'Bearer api-token' }), 'client').who, 'client (bearer)');
  t.throws(
    () => auth.check(meta({ authorization: 'Bearer api-token' }), 'admin'),
    { name: 'UnauthorizedError', status: 401 },
    'the API token is not an admin token',
  );
  t.throws(() => auth.check(meta({ authorization: 'Basic YWRtaW4tdG9rZW4=' }), 'admin'), { name: 'UnauthorizedError', status: 401 }, 'only Bearer');
  const granted = auth.login('admin-token', meta({}));
  t.ok(granted !== undefined, 'the right token logs in');
  t.equal(auth.login('admin-tokenx', meta({})), undefined, 'a wrong one does not');
  const cookie = granted!.cookie.slice(0, granted!.cookie.indexOf(';'));
  const who = auth.check(meta({ cookie }), 'admin').who;
  t.match(who, /^admin \(session [0-9a-f]{8}\)$/, 'the session opens admin routes');
  t.equal(granted!.identity.who, who, 'with the identity login reported');
  const other = createAuth({ adminToken: 'another-token', apiToken: undefined, sessionTtlMs: 60_000, now: () => now });
  t.throws(
    () => other.check(meta({ cookie }), 'admin'),
    { name: 'UnauthorizedError', status: 401 },
    'a session signed under another token is refused (changing the token ends sessions)',
  );
  now += 60_001;
  t.throws(() => auth.check(meta({ cookie }), 'admin'), { name: 'UnauthorizedError', status: 401 }, 'an expired session is refused');
});

t.test('without tokens nothing is required and guard adds nothing', async (t) => {
  const auth = createAuth({ adminToken: undefined, apiToken: undefined, sessionTtlMs: 1000, now: () => 0 });
  t.notOk(auth.adminRequired);
  for (const level of ['open', 'client', 'admin'] as const) t.notOk(auth.required(level), level);
  const handler = () => ({ status: 200, body: 1 });
  t.equal(auth.guard(handler, 'admin'), handler, 'the handler itself');
  t.equal(auth.login('anything', meta({})), undefined, 'no login without a token');
});

t.test('requestSource keeps the peer and the proxies’ claim apart', async (t) => {
  t.equal(requestSource(meta({})), '10.0.0.5');
  t.equal(requestSource(meta({ 'x-forwarded-for': '203.0.113.9, 10.0.0.1' })), '10.0.0.5 (x-forwarded-for 203.0.113.9, 10.0.0.1)');
  t.equal(requestSource(meta({}, '')), 'unknown');
});

t.test('accessOf: client, open, admin, and the optional protections', async (t) => {
  const plain = { adminProtectReads: false, adminProtectMetrics: false };
  const strict = { adminProtectReads: true, adminProtectMetrics: true };
  for (const key of [
    'POST /api/dtmsvr/submit',
    'POST /api/dtmsvr/prepare',
    'POST /api/dtmsvr/abort',
    'GET /api/dtmsvr/newGid',
    'POST /api/dtmsvr/registerBranch',
    'POST /api/dtmsvr/prepareWorkflow',
    'POST /api/json-rpc',
  ]) {
    t.equal(accessOf(key, plain), 'client', key);
  }
  for (const key of [
    'POST /api/dtmsvr/forceStop',
    'GET /api/dtmsvr/all',
    'GET /api/dtmsvr/resetCronTime',
    'GET /api/dtmsvr/subscribe',
    'DELETE /api/dtmsvr/topic/:topicName',
    'GET /api/dtmsvr/somethingNew',
  ]) {
    t.equal(accessOf(key, plain), 'admin', key);
  }
  for (const key of ['ANY /api/ping', 'GET /api/dtmsvr/version', 'GET /livez', 'GET /readyz']) t.equal(accessOf(key, strict), 'open', key);
  t.equal(accessOf('GET /api/dtmsvr/query', plain), 'client');
  t.equal(accessOf('GET /api/dtmsvr/query', strict), 'admin');
  t.equal(accessOf('GET /api/metrics', plain), 'open');
  t.equal(accessOf('GET /api/metrics', strict), 'admin');
});

t.test('adminWarnings: an open admin surface on a reachable address, and short tokens', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) t.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '::', '10.1.2.3', 'example.com']) t.notOk(isLoopbackHost(host), host);
  t.match(adminWarnings({ adminToken: undefined, apiToken: undefined, httpHost: '0.0.0.0' }), [
    /^ADMIN_TOKEN is not set and HTTP_HOST=0\.0\.0\.0 is not a loopback address/,
  ]);
  t.strictSame(adminWarnings({ adminToken: undefined, apiToken: undefined, httpHost: '127.0.0.1' }), [], 'loopback: no warning');
  t.strictSame(adminWarnings({ adminToken: 'x'.repeat(32), apiToken: undefined, httpHost: '0.0.0.0' }), [], 'a long token: no warning');
  t.match(adminWarnings({ adminToken: 'short', apiToken: 'tiny', httpHost: '0.0.0.0' }), [/^ADMIN_TOKEN is shorter than 16/, /^API_TOKEN is shorter than 16/]);
  t.notMatch(JSON.stringify(adminWarnings({ adminToken: 'Qz7wK', apiToken: 'Xv9pL', httpHost: '0.0.0.0' })), /Qz7wK|Xv9pL/, 'never the token itself');
});
