/**
 * Calls a branch URL with undici and classifies the answer exactly as DTM does
 * (dtm-protocol.md §2): transport error → ERROR; 425 or a body containing ONGOING → ONGOING;
 * 409 or a body containing FAILURE → FAILURE; any status but 200 → ERROR; 200 → SUCCESS.
 */
import { Agent, interceptors, type Dispatcher } from 'undici';
import { isIP } from 'node:net';
import { InternalError, OngoingError, type DtmError } from '../errors.js';
import type { UrlFence } from '../url-fence.js';

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
  body: string | Buffer;
  query: { gid: string; trans_type: string; branch_id: string; op: string };
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/** Longest response body we keep for classification and rollback reasons. */
const MAX_BODY_CHARS = 64 * 1024;
/** Bytes collected before decoding: enough for MAX_BODY_CHARS characters of any UTF-8. */
const MAX_BODY_BYTES = 4 * MAX_BODY_CHARS;

/**
 * A keep-alive connection pool per origin, shared by every branch call of the process. Redirects
 * are followed, as DTM's HTTP client does. The URL fence is applied to every connection: through
 * the DNS lookup for host names, and before dispatch for address literals (which skip DNS),
 * redirected requests included.
 */
export function createBranchDispatcher(fence?: UrlFence, connectionsPerOrigin = 256): Dispatcher {
  const agent = new Agent({
    connections: connectionsPerOrigin,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    ...(fence === undefined || fence.open ? {} : { connect: { lookup: fence.lookup } }),
  });
  if (fence === undefined || fence.open) return agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  // An origin's verdict depends on its host alone, and an address literal's on the rules alone
  // (a name is judged by the DNS lookup when a connection opens), so it is worked out once per origin.
  const originVerdicts = new Map<string, string | undefined>();
  const originVerdict = (origin: string): string | undefined => {
    if (originVerdicts.has(origin)) return originVerdicts.get(origin);
    const host = new URL(origin).hostname.replace(/^\[(.*)\]$/, '$1');
    const why = isIP(host) === 0 ? undefined : fence.verdict(host, [host]);
    if (originVerdicts.size >= MAX_CACHED_TARGETS) originVerdicts.clear();
    originVerdicts.set(origin, why);
    return why;
  };
  const fenceAddresses: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
    const why = originVerdict(String(opts.origin));
    if (why !== undefined) throw Object.assign(new Error(`[DTM_URL_DENIED] ${why}`), { code: 'DTM_URL_DENIED' });
    return dispatch(opts, handler);
  };
  // compose() wraps in order, so the redirect interceptor is outermost and its follow-ups pass the fence.
  return agent.compose(fenceAddresses, interceptors.redirect({ maxRedirections: 5 }));
}

/** Appends DTM's query parameters in sorted key order, keeping any query the URL or path already has. */
export function withDtmQuery(pathOrUrl: string, q: BranchRequest['query']): string {
  const qs =
    `branch_id=${encodeURIComponent(q.branch_id)}&gid=${encodeURIComponent(q.gid)}` +
    `&op=${encodeURIComponent(q.op)}&trans_type=${encodeURIComponent(q.trans_type)}`;
  return pathOrUrl + (pathOrUrl.includes('?') ? '&' : '?') + qs;
}

/** Classifies a response per DTM's rules. */
export function classify(status: number, body: string): BranchResult {
  if (status === 425 || body.includes('ONGOING')) return 'ONGOING';
  if (status === 409 || body.includes('FAILURE')) return 'FAILURE';
  if (status !== 200) return 'ERROR';
  return 'SUCCESS';
}

/** Where a branch URL points, split the way `Dispatcher.dispatch` wants it. */
interface Target {
  origin: string;
  /** Path and query, with DTM's query parameters still to be appended. */
  path: string;
  /** Basic credentials from the URL's user info, sent as Go's HTTP client (and so DTM) sends them. */
  authorization: string | undefined;
}

/** Branch URLs repeat across transactions, so their parsing is cached (bounded: reset when full). */
const targets = new Map<string, Target>();
const MAX_CACHED_TARGETS = 4096;

function targetOf(url: string): Target {
  let t = targets.get(url);
  if (t === undefined) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`unsupported protocol ${u.protocol}`);
    const authorization =
      u.username === '' && u.password === ''
        ? undefined
        : `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    t = { origin: u.origin, path: u.pathname + u.search, authorization };
    if (targets.size >= MAX_CACHED_TARGETS) targets.clear();
    targets.set(url, t);
  }
  return t;
}

/**
 * Performs one branch call; never throws. It uses `dispatch` with a handler that collects the
 * body, rather than `request()`, whose per-call Readable stream cost about as much CPU as the
 * rest of the call.
 */
export function callBranch(dispatcher: Dispatcher, req: BranchRequest): Promise<BranchOutcome> {
  return new Promise((resolve) => {
    const fail = (err: unknown): void => {
      const e = err as { code?: string; message?: string };
      resolve({ result: 'ERROR', status: 0, detail: `${e.code ?? 'ERR'}: ${e.message ?? String(err)}` });
    };
    let target: Target;
    try {
      target = targetOf(req.url);
    } catch (err) {
      fail(err);
      return;
    }
    let statusCode = 0;
    const chunks: Buffer[] = [];
    let bytes = 0;
    const handler: Dispatcher.DispatchHandler = {
      // Present so that undici treats this as a handler of its current API (it checks for it).
      onRequestStart() {},
      onResponseStart(_controller, status) {
        statusCode = status;
      },
      onResponseData(_controller, chunk) {
        if (bytes >= MAX_BODY_BYTES) return;
        chunks.push(chunk);
        bytes += chunk.length;
      },
      onResponseEnd() {
        let body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
        if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS);
        resolve({ result: classify(statusCode, body), status: statusCode, detail: body });
      },
      onResponseError(_controller, err) {
        fail(err);
      },
    };
    try {
      dispatcher.dispatch(
        {
          origin: target.origin,
          path: withDtmQuery(target.path, req.query),
          method: req.method,
          headers:
            target.authorization === undefined
              ? { 'content-type': 'application/json', ...req.headers }
              : { 'content-type': 'application/json', authorization: target.authorization, ...req.headers },
          body: req.method === 'POST' ? req.body : null,
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        },
        handler,
      );
    } catch (err) {
      fail(err);
    }
  });
}

/**
 * The error a waiting caller sees for a branch that did not succeed, as DTM builds it
 * (trans_status.go getBranchResult): ONGOING stays ONGOING (425); a FAILURE outside a saga action
 * is wrapped with %s, not %w, so it no longer counts as FAILURE and answers 500.
 */
export function branchError(url: string, o: BranchOutcome): DtmError {
  if (o.result === 'ONGOING') return new OngoingError(`url:${url} ONGOING`);
  const detail = o.result === 'FAILURE' ? `${o.detail}. FAILURE` : o.detail;
  return new InternalError(
    `http/grpc result should be specified as in:\nhttps://dtm.pub/summary/arch.html#http\nunkown result will be retried: ${detail} (url:${url})`,
  );
}
