/**
 * DTM's JSON-RPC endpoint `POST /api/json-rpc` (dtm-protocol.md §1.4.14): the service behind a
 * JSON-RPC 2.0 envelope. The HTTP status is always 200; outcomes travel in `error`
 * ({code, message}) and `result`.
 */
import { toDtmError } from '../errors.js';
import { parseAbortBody, parseRegisterBody, parseTransBody } from '../trans/request.js';
import type { DtmService } from '../trans/service.js';
import type { Handler, Reply } from './handler.js';

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const FAILURE = -32901;
const INTERNAL = -32603;

/** Each method: parse its params, call the service, and give the `result` (null for all but newGid). */
type Method = (service: DtmService, params: unknown) => Promise<unknown>;

const METHODS: Readonly<Record<string, Method>> = {
  newGid: (service) => Promise.resolve({ gid: service.newGid() }),
  prepare: async (service, params) => void (await service.prepare(parseTransBody(params))),
  submit: async (service, params) => void (await service.submit(parseTransBody(params))),
  abort: async (service, params) => void (await service.abort(parseAbortBody(params))),
  registerBranch: async (service, params) => void (await service.registerBranch(parseRegisterBody(params))),
};

function envelope(id: unknown, error: { code: number; message: string } | null, result: unknown): Reply {
  return { status: 200, body: { jsonrpc: '2.0', id: id ?? null, error, result } };
}

/** The JSON-RPC handler; its request body arrives as raw text. */
export function createJsonRpc(service: DtmService): Handler {
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
    const method = typeof msg.method === 'string' && Object.hasOwn(METHODS, msg.method) ? METHODS[msg.method] : undefined;
    if (method === undefined) return envelope(msg.id, { code: METHOD_NOT_FOUND, message: 'Method not found' }, null);
    try {
      const result = await method(service, msg.params ?? {});
      return envelope(msg.id, null, result ?? null);
    } catch (err) {
      const e = toDtmError(err);
      return envelope(msg.id, { code: e.code === 'FAILURE' ? FAILURE : INTERNAL, message: e.message }, null);
    }
  };
}
