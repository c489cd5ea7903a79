/**
 * One branch call against a real HTTP server: DTM's classification of every answer, the request
 * shape (method, body, query, headers), redirects, timeouts, transport errors and the body cap.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { callBranch, classify, createBranchDispatcher, withDtmQuery, type BranchRequest } from '../../src/trans/branch-call.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
const dispatcher = createBranchDispatcher(undefined, 8);

/** Routes: /status/<code>/<body>, /redirect → /status/200/SUCCESS, /slow (never answers), /big. */
t.before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const path = req.url!.split('?')[0]!;
      if (path === '/redirect') {
        res.writeHead(302, { location: '/status/200/%7B%22dtm_result%22%3A%22SUCCESS%22%7D' }).end();
      } else if (path === '/slow') {
        // never answers
      } else if (path === '/big') {
        res.writeHead(200).end('é'.repeat(100_000));
      } else {
        const [, , code, text] = path.split('/');
        res.writeHead(Number(code)).end(decodeURIComponent(text ?? ''));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
t.teardown(async () => {
  server.closeAllConnections();
  server.close();
  await dispatcher.close();
});

function req(path: string, over: Partial<BranchRequest> = {}): BranchRequest {
  return {
    url: base + path,
    method: 'POST',
    body: '{"amount":30}',
    query: { gid: 'g 1&x', trans_type: 'saga', branch_id: '01', op: 'action' },
    headers: {},
    timeoutMs: 2000,
    ...over,
  };
}

t.test('classification follows DTM: status first for 425/409, then the body text', async (t) => {
  const cases: [number, string, string][] = [
    [200, '{"dtm_result":"SUCCESS"}', 'SUCCESS'],
    [200, '', 'SUCCESS'],
    [200, '{"dtm_result":"FAILURE"}', 'FAILURE'],
    [200, '{"dtm_result":"ONGOING"}', 'ONGOING'],
    [409, '', 'FAILURE'],
    [425, '', 'ONGOING'],
    [500, 'boom', 'ERROR'],
    [201, '{"dtm_result":"SUCCESS"}', 'ERROR'],
    [502, 'garbage', 'ERROR'],
  ];
  for (const [code, body, want] of cases) {
    const o = await callBranch(dispatcher, req(`/status/${code}/${encodeURIComponent(body)}`));
    t.same(o, { result: want, status: code, detail: body }, `${code} ${body}`);
    t.equal(classify(code, body), want);
  }
});

t.test('POST carries the body, the JSON content type, branch headers and the sorted DTM query', async (t) => {
  seen.length = 0;
  await callBranch(dispatcher, req('/status/200/ok?tenant=a', { headers: { authorization: 'Bearer x' } }));
  const s = seen[0]!;
  t.equal(s.method, 'POST');
  t.equal(s.body, '{"amount":30}');
  t.equal(s.headers['content-type'], 'application/json');
  t.equal(s.headers['authorization'], 'Bearer x');
  t.equal(s.url, '/status/200/ok?tenant=a&branch_id=01&gid=g%201%26x&op=action&trans_type=saga');
});

t.test('GET sends no body', async (t) => {
  seen.length = 0;
  await callBranch(dispatcher, req('/status/200/ok', { method: 'GET', body: '' }));
  t.equal(seen[0]!.method, 'GET');
  t.equal(seen[0]!.body, '');
});

t.test("redirects are followed, as DTM's HTTP client does", async (t) => {
  const o = await callBranch(dispatcher, req('/redirect', { method: 'GET', body: '' }));
  t.equal(o.result, 'SUCCESS');
  t.equal(o.status, 200);
});

t.test('a branch that does not answer in time is an ERROR naming the timeout', async (t) => {
  const o = await callBranch(dispatcher, req('/slow', { timeoutMs: 200 }));
  t.equal(o.result, 'ERROR');
  t.equal(o.status, 0);
  t.match(o.detail, /UND_ERR_HEADERS_TIMEOUT/);
});

t.test('transport errors and bad URLs are ERRORs, never throws', async (t) => {
  const refused = await callBranch(dispatcher, { ...req(''), url: 'http://127.0.0.1:1/x' });
  t.equal(refused.result, 'ERROR');
  t.match(refused.detail, /ECONNREFUSED/);
  for (const url of ['not a url', 'ftp://example.com/x', '']) {
    const o = await callBranch(dispatcher, { ...req(''), url });
    t.equal(o.result, 'ERROR', url);
    t.equal(o.status, 0);
  }
});

t.test('a huge body is capped at 64K characters', async (t) => {
  const o = await callBranch(dispatcher, req('/big', { method: 'GET', body: '' }));
  t.equal(o.result, 'SUCCESS');
  t.equal(o.detail.length, 64 * 1024);
  t.equal(o.detail, 'é'.repeat(64 * 1024));
});

t.test('withDtmQuery appends to a bare path or an existing query', async (t) => {
  const q = { gid: 'g', trans_type: 'msg', branch_id: '01', op: 'action' };
  t.equal(withDtmQuery('/a', q), '/a?branch_id=01&gid=g&op=action&trans_type=msg');
  t.equal(withDtmQuery('http://h/a?x=1', q), 'http://h/a?x=1&branch_id=01&gid=g&op=action&trans_type=msg');
});
