/**
 * Calls a branch URL with undici and classifies the answer exactly as DTM does
 * (dtm-protocol.md §2): transport error → ERROR; 425 or a body containing ONGOING → ONGOING;
 * 409 or a body containing FAILURE → FAILURE; any status but 200 → ERROR; 200 → SUCCESS.
 */
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { InternalError, OngoingError, type DtmError } from '../errors.js';

export type BranchResult = 'SUCCESS' | 'FAILURE' | 'ONGOING' | 'ERROR';

export interface BranchOutcome {
  result: BranchResult;
  /** HTTP status, or 0 when the call failed before a response. */
  status: number;
  /** The response body (capped), or the transport error's message. */
  detail: string;
}

export interface BranchRequest {
  url: string;
  /** POST when there is a body (or always for XA), else GET. */
  method: 'GET' | 'POST';
  body: string;
  query: { gid: string; trans_type: string; branch_id: string; op: string };
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** Longest response body we keep for classification and rollback reasons. */
const MAX_BODY_CHARS = 64 * 1024;

/**
 * A keep-alive connection pool per origin, shared by every branch call of the process. Redirects
 * are followed, as DTM's HTTP client does.
 */
export function createBranchDispatcher(connectionsPerOrigin = 256): Dispatcher {
  return new Agent({ connections: connectionsPerOrigin, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 }).compose(
    interceptors.redirect({ maxRedirections: 5 }),
  );
}

/** Appends DTM's query parameters in sorted key order, keeping any query the URL already has. */
export function branchUrl(url: string, q: BranchRequest['query']): string {
  const qs =
    `branch_id=${encodeURIComponent(q.branch_id)}&gid=${encodeURIComponent(q.gid)}` +
    `&op=${encodeURIComponent(q.op)}&trans_type=${encodeURIComponent(q.trans_type)}`;
  return url + (url.includes('?') ? '&' : '?') + qs;
}

/** Classifies a response per DTM's rules. */
export function classify(status: number, body: string): BranchResult {
  if (status === 425 || body.includes('ONGOING')) return 'ONGOING';
  if (status === 409 || body.includes('FAILURE')) return 'FAILURE';
  if (status !== 200) return 'ERROR';
  return 'SUCCESS';
}

/** Performs one branch call; never throws. */
export async function callBranch(dispatcher: Dispatcher, req: BranchRequest): Promise<BranchOutcome> {
  try {
    const res = await request(branchUrl(req.url, req.query), {
      dispatcher,
      method: req.method,
      headers: { 'content-type': 'application/json', ...req.headers },
      body: req.method === 'POST' ? req.body : null,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    let body = await res.body.text();
    if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS);
    return { result: classify(res.statusCode, body), status: res.statusCode, detail: body };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { result: 'ERROR', status: 0, detail: `${e.code ?? 'ERR'}: ${e.message ?? String(err)}` };
  }
}

/**
 * The error a waiting caller sees for a branch that did not succeed, as DTM builds it
 * (trans_status.go getBranchResult): ONGOING stays ONGOING (425); a FAILURE outside a saga action
 * is wrapped with %s, not %w, so it no longer counts as FAILURE and answers 500.
 */
export function branchError(url: string, o: BranchOutcome): DtmError {
  if (o.result === 'ONGOING') return new OngoingError(`url:${url} ONGOING`);
  const detail = o.result === 'FAILURE' ? `${o.detail}. FAILURE` : o.detail;
  return new InternalError(`http/grpc result should be specified as in:\nhttps://dtm.pub/summary/arch.html#http\nunkown result will be retried: ${detail} (url:${url})`);
}
