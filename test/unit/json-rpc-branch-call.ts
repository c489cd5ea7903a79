/**
 * JSON-RPC branch calls against a real HTTP server: the request DTM sends (POST, envelope, method
 * from the URL, params = payload + DTM fields), DTM v1.19's reading of the reply, timeouts and
 * transport errors.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createBranchDispatcher } from '../../src/trans/branch-call.js';
import { callJsonRpcBranch, classifyJsonRpc, jsonRpcBody, type JsonRpcBranchRequest } from '../../src/trans/json-rpc-branch-call.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** The next answers, in order; the default is a JSON-RPC success. */
const answers: { status: number; body: string }[] = [];
const dispatcher = createBranchDispatcher(undefined, 8);

t.before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url!.startsWith('/slow')) return; // never answers
      const a = answers.shift() ?? { status: 200, body: '{"jsonrpc":"2.0","id":"1","result":null,"error":null}' };
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
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
t.beforeEach(() => {
  seen.length = 0;
  answers.length = 0;
});

function req(path: string, over: Partial<JsonRpcBranchRequest> = {}): JsonRpcBranchRequest {
  return {
    url: base + path,
    body: '{"amount":30,"gid":"the payload does not win"}',
    query: { gid: 'g-1', trans_type: 'saga', branch_id: '01', op: 'action' },
    headers: {},
    timeoutMs: 2000,
    ...over,
  };
}

t.test('POSTs the JSON-RPC envelope: method from the URL, params = payload + DTM fields', async (t) => {
  const o = await callJsonRpcBranch(dispatcher, req('/api/busi.jsonrpc?method=TransIn&x=1', { headers: { authorization: 'Bearer t' } }));
  t.equal(o.result, 'SUCCESS');
  t.equal(o.status, 200);
  const s = seen[0]!;
  t.equal(s.method, 'POST');
  t.equal(s.url, '/api/busi.jsonrpc?method=TransIn&x=1', 'the URL is posted to as it is');
  t.equal(s.headers['content-type'], 'application/json');
  t.equal(s.headers['authorization'], 'Bearer t');
  const body = JSON.parse(s.body);
  t.match(body, { jsonrpc: '2.0', method: 'TransIn', id: /^[1-9A-HJ-NP-Za-km-z]{22}$/ });
  t.same(body.params, { amount: 30, gid: 'g-1', trans_type: 'saga', branch_id: '01', op: 'action' });
  await callJsonRpcBranch(dispatcher, req('/api/busi.jsonrpc?method=TransIn'));
  t.not(JSON.parse(seen[1]!.body).id, body.id, 'a fresh id per call');
});

t.test('an empty payload is an empty params object; a payload that is not an object is an ERROR, not sent', async (t) => {
  await callJsonRpcBranch(dispatcher, req('/rpc?method=Commit', { body: '', query: { gid: 'x', trans_type: 'xa', branch_id: '01', op: 'commit' } }));
  t.same(JSON.parse(seen[0]!.body).params, { gid: 'x', trans_type: 'xa', branch_id: '01', op: 'commit' });
  for (const body of ['[1,2]', 'null', '"text"', '{not json']) {
    const o = await callJsonRpcBranch(dispatcher, req('/rpc?method=M', { body }));
    t.same([o.result, o.status], ['ERROR', 0], body);
    t.match(o.detail, /payload of a json-rpc branch must be a JSON object/);
  }
  t.equal(seen.length, 1);
  t.throws(() => jsonRpcBody(req('/x', { body: '[]' }), 'm', 'id'), TypeError);
});

t.test('replies classify as DTM v1.19 reads them', async (t) => {
  const cases: [number, string, string][] = [
    [200, '{"jsonrpc":"2.0","id":"1","result":{"ok":true},"error":null}', 'SUCCESS'],
    [200, '{"jsonrpc":"2.0","id":"1","result":null}', 'SUCCESS'],
    [200, '{}', 'SUCCESS'],
    [200, 'null', 'SUCCESS'],
    // The error code is never matched (float vs int in DTM): only the body text decides.
    [200, '{"jsonrpc":"2.0","id":"1","error":{"code":-32901,"message":"FAILURE"}}', 'FAILURE'],
    [200, '{"jsonrpc":"2.0","id":"1","error":{"code":-32901,"message":"no stock"}}', 'ERROR'],
    [200, '{"jsonrpc":"2.0","id":"1","error":{"code":-32902,"message":"ONGOING"}}', 'ONGOING'],
    [200, '{"jsonrpc":"2.0","id":"1","error":{"code":-32902,"message":"later"}}', 'ERROR'],
    [200, '{"jsonrpc":"2.0","id":"1","error":{"code":-32603,"message":"boom"}}', 'ERROR'],
    [200, '{"error":"a string"}', 'ERROR'],
    [200, '{"error":false}', 'ERROR'],
    [200, '[1]', 'ERROR'],
    [200, '"text"', 'ERROR'],
    [200, '', 'ERROR'],
    [200, 'not json', 'ERROR'],
    [409, '', 'FAILURE'],
    [425, '', 'ONGOING'],
    [500, '{"error":null}', 'ERROR'],
    [201, '{"result":1}', 'ERROR'],
    [500, 'x ONGOING', 'ONGOING'],
  ];
  for (const [status, body, want] of cases) {
    answers.push({ status, body });
    const o = await callJsonRpcBranch(dispatcher, req('/rpc?method=M'));
    t.same(o, { result: want, status, detail: body }, `${status} ${body}`);
    t.equal(classifyJsonRpc(status, body), want);
  }
});

t.test('timeouts and transport errors are ERRORs; the call never throws', async (t) => {
  const slow = await callJsonRpcBranch(dispatcher, req('/slow?method=M', { timeoutMs: 200 }));
  t.same([slow.result, slow.status], ['ERROR', 0]);
  t.match(slow.detail, /UND_ERR_HEADERS_TIMEOUT/);
  const refused = await callJsonRpcBranch(dispatcher, req('', { url: 'http://127.0.0.1:1/rpc?method=M' }));
  t.equal(refused.result, 'ERROR');
  t.match(refused.detail, /ECONNREFUSED/);
  for (const url of ['not a url', 'ftp://example.com/x?method=M']) {
    const o = await callJsonRpcBranch(dispatcher, req('', { url }));
    t.same([o.result, o.status], ['ERROR', 0], url);
  }
});
