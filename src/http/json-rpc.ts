/**
 * DTM's JSON-RPC endpoint `POST /api/json-rpc` (dtm-protocol.md §1.4.14): the same handlers as the
 * HTTP API behind a JSON-RPC 2.0 envelope. The HTTP status is always 200; outcomes travel in
 * `error` ({code, message}) and `result`.
 */
import { toDtmError } from '../errors.js';
import type { Handler, Reply } from './api.js';

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const FAILURE = -32901;
const INTERNAL = -32603;

const METHODS: Readonly<Record<string, string>> = {
  newGid: 'GET /api/dtmsvr/newGid',
  prepare: 'POST /api/dtmsvr/prepare',
  submit: 'POST /api/dtmsvr/submit',
  abort: 'POST /api/dtmsvr/abort',
  registerBranch: 'POST /api/dtmsvr/registerBranch',
};

function envelope(id: unknown, error: { code: number; message: string } | null, result: unknown): Reply {
  return { status: 200, body: { jsonrpc: '2.0', id: id ?? null, error, result } };
}

/** Builds the JSON-RPC handler over the HTTP routes. Its request body arrives as raw text. */
export function createJsonRpc(routes: Readonly<Record<string, Handler>>): Handler {
  return async (req) => {
    let msg: { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(typeof req.body === 'string' ? req.body : '') as typeof msg;
      if (msg === null || typeof msg !== 'object') throw new Error('not an object');
    } catch {
      return envelope(null, { code: PARSE_ERROR, message: 'Parse error' }, null);
    }
    if (msg.jsonrpc !== '2.0' || msg.id === undefined || msg.id === null || msg.id === '') {
      return envelope(msg.id, { code: INVALID_REQUEST, message: 'Invalid Request' }, null);
    }
    const route = typeof msg.method === 'string' ? METHODS[msg.method] : undefined;
    const handler = route === undefined ? undefined : routes[route];
    if (handler === undefined) return envelope(msg.id, { code: METHOD_NOT_FOUND, message: 'Method not found' }, null);
    try {
      const reply = await handler({ body: msg.params ?? {}, query: new URLSearchParams(), params: [] });
      // newGid's result is the gid alone, without dtm_result; the other methods return nothing.
      const result = msg.method === 'newGid' ? { gid: (reply.body as { gid: string }).gid } : null;
      return envelope(msg.id, null, result);
    } catch (err) {
      const e = toDtmError(err);
      return envelope(msg.id, { code: e.code === 'FAILURE' ? FAILURE : INTERNAL, message: e.message }, null);
    }
  };
}
