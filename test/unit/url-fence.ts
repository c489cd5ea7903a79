/**
 * The branch URL fence: its rules, the submit-time check, and the call-time checks in the HTTP
 * client (DNS lookup for names, before dispatch for address literals, redirects included).
 */
import { createServer, type Server } from 'node:http';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { callBranch, createBranchDispatcher } from '../../src/trans/branch-call.js';
import { branchHost } from '../../src/trans/branch-target.js';
import type { LookupAddress } from 'node:dns';
import { createUrlFence, DEFAULT_DENY, parseFenceRules, VERDICT_CACHE_MAX, VERDICT_TTL_MS, type UrlFence, type UrlFenceDeps } from '../../src/url-fence.js';

/** The fence's verdict on the host of an http(s) or gRPC branch URL, as the service asks it. */
const check = (fence: UrlFence, url: string, protocol = 'http'): Promise<string | undefined> => fence.checkHost(branchHost(url, protocol)!);

t.test('rules: CIDRs, addresses, names and suffixes; anything else is refused', async (t) => {
  t.doesNotThrow(() => parseFenceRules(['10.0.0.0/8', '::1', 'fd00::/8', 'metadata.internal', '.corp.example', '*.svc.local', ' ']), 'all forms parse');
  for (const bad of ['10.0.0.0/33', '::/129', 'not a host', 'a..b', 'http://x', '1.2.3.4/x'])
    t.throws(() => parseFenceRules([bad]), /not a/, `${bad} is refused`);
});

t.test('the default denies only link-local metadata addresses', async (t) => {
  const fence = createUrlFence({ deny: DEFAULT_DENY, allow: [] });
  t.match(await check(fence, 'http://169.254.169.254/latest/meta-data'), /169\.254\.169\.254 .*BRANCH_URL_DENY/, 'the AWS/GCP/Azure metadata address');
  t.match(await check(fence, 'http://[fd00:ec2::254]/'), /BRANCH_URL_DENY/, "AWS's IPv6 metadata address");
  t.match(await check(fence, 'http://[::ffff:169.254.169.254]/'), /BRANCH_URL_DENY/, 'an IPv4-mapped IPv6 spelling of it');
  t.match(await check(fence, 'http://0xa9.254.169.254/'), /BRANCH_URL_DENY/, 'a hex spelling of it (WHATWG normalises it)');
  for (const ok of ['http://127.0.0.1:8080/x', 'http://10.1.2.3/x', 'http://localhost/x', 'http://[::1]/x', 'http://192.168.0.10/x']) {
    t.equal(await check(fence, ok), undefined, `${ok} is allowed`);
  }
});

t.test('deny names and suffixes; an allow list admits only what it names; deny wins', async (t) => {
  const fence = createUrlFence({ deny: ['bad.example', '.evil.test', '10.9.0.0/16'], allow: ['127.0.0.0/8', '::1', 'localhost', '.corp.example', '10.9.9.9'] });
  t.match(await check(fence, 'http://bad.example/x'), /bad\.example is in BRANCH_URL_DENY/, 'a denied name');
  t.match(await check(fence, 'http://a.b.evil.test/x'), /BRANCH_URL_DENY/, 'a name under a denied suffix');
  t.match(await check(fence, 'http://evil.test/x'), /BRANCH_URL_DENY/, 'the suffix domain itself');
  t.equal(await check(fence, 'http://127.0.0.1:1/x'), undefined, 'an allowed range');
  t.equal(await check(fence, 'http://svc.corp.example/x'), undefined, 'an allowed suffix (judged by name, resolvable or not)');
  t.match(await check(fence, 'http://10.1.1.1/x'), /not in BRANCH_URL_ALLOW/, 'outside the allow list');
  t.match(await check(fence, 'http://10.9.9.9/x'), /BRANCH_URL_DENY/, 'deny wins over allow');
  t.match(await check(fence, 'http://no-such-host.invalid/x'), /not in BRANCH_URL_ALLOW/, 'an unresolvable name cannot be shown to be allowed');
});

t.test('gRPC branch URLs are fenced by their host too', async (t) => {
  const fence = createUrlFence({ deny: DEFAULT_DENY, allow: [] });
  t.match(await check(fence, '169.254.169.254:50051/pkg.Svc/Method', 'grpc'), /BRANCH_URL_DENY/, 'a gRPC target on the metadata address');
  t.match(await check(fence, '[fd00:ec2::254]:50051/pkg.Svc/Method', 'grpc'), /BRANCH_URL_DENY/, 'an IPv6 gRPC target');
  t.equal(await check(fence, '127.0.0.1:50051/pkg.Svc/Method', 'grpc'), undefined, 'a loopback gRPC target is allowed');
});

t.test('configuration: defaults, lists, none, and a bad entry named', async (t) => {
  t.strictSame(loadConfig({}, []).branchUrlDeny, [...DEFAULT_DENY], 'default deny');
  t.strictSame(loadConfig({ BRANCH_URL_DENY: 'none' }, []).branchUrlDeny, [], 'none: nothing denied');
  t.strictSame(loadConfig({ BRANCH_URL_ALLOW: '10.0.0.0/8, .corp' }, []).branchUrlAllow, ['10.0.0.0/8', '.corp'], 'a comma-separated list');
  t.throws(
    () => loadConfig({ BRANCH_URL_DENY: '10.0.0.0/99' }, []),
    { name: 'ConfigError', message: /BRANCH_URL_DENY: not a CIDR/ },
    'a bad CIDR names the key',
  );
});

t.test('branch calls are fenced when made: names through DNS, address literals and redirects before connecting', async (t) => {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (req.url?.startsWith('/redirect')) res.writeHead(302, { location: `http://127.0.0.2:${port}/landed` }).end();
    else res.end('SUCCESS');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const call = (dispatcher: ReturnType<typeof createBranchDispatcher>, url: string) =>
    callBranch(dispatcher, {
      url,
      method: 'GET',
      body: '',
      query: { gid: 'g', trans_type: 'saga', branch_id: '01', op: 'action' },
      headers: {},
      timeoutMs: 2000,
    });

  const loopbackDenied = createBranchDispatcher(createUrlFence({ deny: ['127.0.0.0/8', '::1'], allow: [] }));
  t.teardown(() => loopbackDenied.close());
  t.match(
    await call(loopbackDenied, `http://localhost:${port}/x`),
    { result: 'ERROR', detail: /DTM_URL_DENIED.*localhost resolves to/ },
    'a name that resolves to a denied address',
  );
  t.match(await call(loopbackDenied, `http://127.0.0.1:${port}/x`), { result: 'ERROR', detail: /DTM_URL_DENIED/ }, 'an address literal');
  t.match(await call(loopbackDenied, `http://127.0.0.1:${port}/y`), { result: 'ERROR', detail: /DTM_URL_DENIED/ }, 'the same origin again (its verdict kept)');
  t.equal(hits, 0, 'neither reached the server');

  const only1 = createBranchDispatcher(createUrlFence({ deny: ['127.0.0.2'], allow: [] }));
  t.teardown(() => only1.close());
  t.match(await call(only1, `http://127.0.0.1:${port}/x`), { result: 'SUCCESS' }, 'an allowed address is called');
  t.match(
    await call(only1, `http://127.0.0.1:${port}/redirect`),
    { result: 'ERROR', detail: /DTM_URL_DENIED.*127\.0\.0\.2/ },
    'a redirect to a denied address is not followed',
  );
  t.equal(hits, 2, 'the allowed call and the redirect itself reached the server, the redirect target did not');
});

t.test('submit-time verdicts are kept per host: address literals for good, names until their TTL, so a DNS change is seen', async (t) => {
  let now = 1_000_000;
  let addresses = ['10.0.0.5'];
  let lookups = 0;
  let resolvable = true;
  const fence = createUrlFence(
    { deny: ['10.9.0.0/16'], allow: [] },
    {
      now: () => now,
      resolveAll: async () => {
        lookups++;
        if (!resolvable) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return addresses;
      },
    },
  );
  t.equal(fence.known('svc.test'), undefined, 'a name not checked yet is unknown');
  t.equal(await fence.checkHost('svc.test'), undefined, 'allowed');
  t.equal(lookups, 1, 'resolved once');
  t.strictSame(fence.known('svc.test'), { why: undefined }, 'now known');
  addresses = ['10.9.0.1'];
  t.equal(await fence.checkHost('svc.test'), undefined, 'within the TTL the verdict is reused');
  now += VERDICT_TTL_MS - 1;
  t.equal(await fence.checkHost('svc.test'), undefined, 'up to the last millisecond of the TTL');
  t.equal(lookups, 1, 'without another lookup');
  now += 1;
  t.equal(fence.known('svc.test'), undefined, 'once the TTL is over the name is unknown again');
  t.match(await fence.checkHost('svc.test'), /resolves to 10\.9\.0\.1, which is in BRANCH_URL_DENY/, 'and its new address is refused');
  t.equal(lookups, 2, 'after a new lookup');
  t.match(fence.known('svc.test'), { why: /BRANCH_URL_DENY/ }, 'a refusal is kept too');

  t.match(fence.known('10.9.1.1'), { why: /BRANCH_URL_DENY/ }, 'an address literal is judged without a lookup');
  t.strictSame(fence.known('10.0.1.1'), { why: undefined }, 'allowed likewise');
  now += 10 * VERDICT_TTL_MS;
  t.match(fence.known('10.9.1.1'), { why: /BRANCH_URL_DENY/ }, 'and its verdict does not expire');
  t.equal(lookups, 2, 'no lookup for address literals');

  resolvable = false;
  t.equal(await fence.checkHost('gone.test'), undefined, 'a name that does not resolve is judged by its name');
  t.equal(fence.known('gone.test'), undefined, 'and that verdict is not kept: it may resolve later');
  resolvable = true;
});

t.test('the verdict cache is bounded: when full it starts over', async (t) => {
  let lookups = 0;
  const fence = createUrlFence({ deny: DEFAULT_DENY, allow: [] }, { now: () => 0, resolveAll: async () => (lookups++, ['10.0.0.1']) });
  for (let i = 0; i < VERDICT_CACHE_MAX; i++) await fence.checkHost(`h${i}.test`);
  t.strictSame(fence.known('h0.test'), { why: undefined }, 'the first name is still kept when the cache is just full');
  await fence.checkHost('one-more.test');
  t.equal(fence.known('h0.test'), undefined, 'one more host starts the cache over');
  t.equal(lookups, VERDICT_CACHE_MAX + 1, 'one lookup per name');
});

t.test('call-time checks resolve afresh on every connection, whatever the submit-time cache holds (DNS rebinding)', async (t) => {
  let answer = '10.0.0.5';
  let lookups = 0;
  const dnsLookup = ((_host: string, _opts: unknown, cb: (err: Error | null, found: LookupAddress[]) => void) => {
    lookups++;
    cb(null, [{ address: answer, family: 4 }]);
  }) as unknown as NonNullable<UrlFenceDeps['dnsLookup']>;
  const fence = createUrlFence({ deny: ['10.9.0.0/16'], allow: [] }, { resolveAll: async () => [answer], dnsLookup });
  t.equal(await fence.checkHost('svc.test'), undefined, 'allowed at submit');
  const connect = (): Promise<{ err: Error | null; address: unknown }> =>
    new Promise((resolve) => fence.lookup('svc.test', {}, (err, address) => resolve({ err, address })));
  t.strictSame(await connect(), { err: null, address: '10.0.0.5' }, 'the first connection gets the allowed address');
  answer = '10.9.0.7';
  t.equal(await fence.checkHost('svc.test'), undefined, 'the submit-time verdict is still the cached one');
  t.match(await connect(), { err: { message: /DTM_URL_DENIED.*10\.9\.0\.7/ } }, 'but the next connection sees the rebound address and is refused');
  t.equal(lookups, 2, 'each connection resolved the name');
});
