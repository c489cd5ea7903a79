/**
 * Calls a branch of a `json-rpc` transaction (dtm-protocol.md §3.6; DTM's trans_status.go
 * getJSONRPCResult): a POST to the branch URL of `{"jsonrpc":"2.0","method":<the URL's method
 * query parameter>,"id":<random>,"params":{…the payload object…, gid, trans_type, branch_id, op}}`.
 *
 * The reply is read as DTM v1.19 reads it: first the HTTP rules (425 or a body containing ONGOING
 * → ONGOING; 409 or a body containing FAILURE → FAILURE; not 200 → ERROR), then the body as a
 * JSON-RPC response: a non-null `error` → ERROR, whatever its code. DTM compares the decoded
 * code (a float) with its int constants -32901/-32902, which never matches, so a JSON-RPC
 * failure only counts as FAILURE through the word FAILURE in its body (DTM's own servers put the
 * error text, ending in FAILURE, in `message`). A body that is not a JSON object (or null) → ERROR.
 */
import type { Dispatcher } from 'undici';
import { newGid } from '../gid.js';
import { classify, type BranchOutcome, type BranchRequest, type BranchResult } from './branch-call.js';

/** A JSON-RPC branch call: always a POST, so no method. `body` is the stored payload (JSON text). */
export type JsonRpcBranchRequest = Omit<BranchRequest, 'method'>;

/** Longest response body kept in `detail`. */
const MAX_DETAIL_CHARS = 64 * 1024;
/** Bytes read at most; a longer answer is cut and, no longer being JSON, is an ERROR. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** How DTM classifies a JSON-RPC branch's HTTP answer (see the file comment). */
export function classifyJsonRpc(status: number, body: string): BranchResult {
  const http = classify(status, body);
  if (http !== 'SUCCESS') return http;
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    return 'ERROR';
  }
  if (reply === null) return 'SUCCESS';
  if (typeof reply !== 'object' || Array.isArray(reply)) return 'ERROR';
  const error = (reply as Record<string, unknown>)['error'];
  return error === undefined || error === null ? 'SUCCESS' : 'ERROR';
}

/**
 * The request body. The payload must be a JSON object; an empty payload (an XA commit, a msg
 * check-back) is taken as `{}`, where DTM fails on it forever.
 * @throws TypeError when the payload is not a JSON object.
 */
export function jsonRpcBody(req: JsonRpcBranchRequest, method: string, id: string): string {
  let params: unknown = {};
  if (req.body.length > 0) {
    try {
      params = JSON.parse(typeof req.body === 'string' ? req.body : req.body.toString('utf8'));
    } catch (err) {
      throw new TypeError(`the payload of a json-rpc branch must be a JSON object: ${(err as Error).message}`, { cause: err });
    }
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new TypeError('the payload of a json-rpc branch must be a JSON object');
  const { gid, trans_type, branch_id, op } = req.query;
  return JSON.stringify({ jsonrpc: '2.0', method, id, params: { ...params, gid, trans_type, branch_id, op } });
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes >= MAX_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Performs one JSON-RPC branch call; never throws. */
export async function callJsonRpcBranch(dispatcher: Dispatcher, req: JsonRpcBranchRequest): Promise<BranchOutcome> {
  let status = 0;
  try {
    const u = new URL(req.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`unsupported protocol ${u.protocol}`);
    const body = jsonRpcBody(req, u.searchParams.get('method') ?? '', newGid());
    const res = await dispatcher.request({
      origin: u.origin,
      path: u.pathname + u.search,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...req.headers },
      body,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    status = res.statusCode;
    const text = await readCapped(res.body);
    return { result: classifyJsonRpc(status, text), status, detail: text.length > MAX_DETAIL_CHARS ? text.slice(0, MAX_DETAIL_CHARS) : text };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { result: 'ERROR', status, detail: `${e.code ?? 'ERR'}: ${e.message ?? String(err)}` };
  }
}
