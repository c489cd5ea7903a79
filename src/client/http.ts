/**
 * The SDK's HTTP layer: calls to the coordinator (`callDtm`) and to business services
 * (`callBranchUrl`), over one keep-alive undici agent, plus gid generation.
 */
import { Agent, type Dispatcher } from 'undici';
import { branchResponseError, DtmClientError, dtmResponseError, FailureError } from './errors.js';

/** Settings of the SDK's HTTP client. */
export interface DtmHttpConfig {
  /**
   * Per-request timeout in ms (headers and body each), for coordinator and branch calls that do
   * not set their own.
   * @default 10000
   */
  timeoutMs: number;
  /** The undici dispatcher to use; by default a keep-alive Agent owned by the SDK. */
  dispatcher: Dispatcher;
}

let ownAgent: Agent | undefined;
let config: DtmHttpConfig | undefined;

function current(): DtmHttpConfig {
  if (config === undefined) {
    ownAgent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 });
    config = { timeoutMs: 10_000, dispatcher: ownAgent };
  }
  return config;
}

/** Changes the SDK's HTTP settings (timeout, dispatcher) for every later call. */
export function configureDtmHttp(settings: Partial<DtmHttpConfig>): void {
  config = { ...current(), ...settings };
}

/** Closes the SDK's own keep-alive agent (a custom dispatcher stays the caller's to close). */
export async function closeDtmHttp(): Promise<void> {
  const agent = ownAgent;
  ownAgent = undefined;
  config = undefined;
  if (agent !== undefined) await agent.close();
}

/** A raw HTTP answer. */
export interface HttpReply {
  readonly status: number;
  /** The body as text. */
  readonly text: string;
}

/** One HTTP request of the SDK. */
export interface HttpCall {
  readonly method?: 'GET' | 'POST';
  /** Query parameters appended to any already in the URL. */
  readonly query?: Readonly<Record<string, string>>;
  /** A string is sent as is; anything else (but undefined) as JSON. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Overrides the configured timeout, in ms. */
  readonly timeoutMs?: number;
}

/** Encodes a payload as DTM's SDKs do: strings and bytes as they are, anything else as JSON. */
export function encodePayload(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload).toString();
  return JSON.stringify(payload) ?? '';
}

/** Where a URL points, split the way `Dispatcher.dispatch` wants it. */
interface Target {
  readonly origin: string;
  /** The path as sent: pathname plus any query the URL already has. */
  readonly path: string;
  /** The pathname alone, for error messages (query strings may carry data). */
  readonly pathname: string;
  readonly hasQuery: boolean;
  /** Why the URL cannot be called (not http/https), reported as a transport error. */
  readonly unsupported: string | undefined;
}

/**
 * Parsed URLs, since an SDK calls the same few (the coordinator's endpoints, a service's
 * check-back) over and over; bounded, and simply emptied when full.
 */
const targets = new Map<string, Target>();
const MAX_CACHED_TARGETS = 1024;

/** Parses `url` once. @throws TypeError for a string that is not a URL (as `new URL` does). */
function targetOf(url: string): Target {
  let t = targets.get(url);
  if (t === undefined) {
    const u = new URL(url);
    const unsupported = u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `unsupported protocol ${u.protocol}`;
    t = { origin: u.origin, path: u.pathname + u.search, pathname: u.pathname, hasQuery: u.search !== '', unsupported };
    if (targets.size >= MAX_CACHED_TARGETS) targets.clear();
    targets.set(url, t);
  }
  return t;
}

/** The request headers: the JSON content type unless the caller sets its own, then the caller's. */
const JSON_HEADERS: string[] = ['content-type', 'application/json'];

function headersOf(extra: Readonly<Record<string, string>> | undefined): string[] | Record<string, string> {
  return extra === undefined ? JSON_HEADERS : { 'content-type': 'application/json', ...extra };
}

/**
 * Collects one answer for `Dispatcher.dispatch`. A plain handler instead of `request()`, whose
 * per-call Readable body stream costs about as much CPU as the rest of a small call; a class so
 * that every call's handler has the same shape.
 */
class Collector implements Dispatcher.DispatchHandler {
  private status = 0;
  private first: Buffer | undefined;
  private more: Buffer[] | undefined;

  constructor(
    private readonly resolve: (reply: HttpReply) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  // Present so that undici takes this for a handler of its current API (it checks for it).
  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, status: number): void {
    this.status = status;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.first === undefined) this.first = chunk;
    else (this.more ??= [this.first]).push(chunk);
  }

  onResponseEnd(): void {
    const text = this.more !== undefined ? Buffer.concat(this.more).toString('utf8') : this.first === undefined ? '' : this.first.toString('utf8');
    this.resolve({ status: this.status, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.reject(err);
  }
}

function appendQuery(target: Target, query: Readonly<Record<string, string>>): string {
  const qs = new URLSearchParams(query).toString();
  if (qs === '') return target.path;
  return `${target.path}${target.hasQuery ? '&' : '?'}${qs}`;
}

/**
 * Sends one request over the configured dispatcher (keep-alive: connections are reused across
 * calls) and reads the whole answer.
 * @throws TypeError for a string that is not a URL
 * @throws DtmClientError for a transport error or a timeout (`timeoutMs`, headers and body each)
 */
export function httpCall(url: string, call: HttpCall = {}): Promise<HttpReply> {
  const { timeoutMs, dispatcher } = current();
  let target: Target;
  let body: string | undefined;
  // A bad URL or a body JSON cannot encode rejects, as it did when this function was async.
  try {
    target = targetOf(url);
    body = call.body === undefined ? undefined : encodePayload(call.body);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  const method = call.method ?? (body === undefined ? 'GET' : 'POST');
  const timeout = call.timeoutMs ?? timeoutMs;
  const transportError = (err: unknown): DtmClientError =>
    new DtmClientError(`${method} ${target.origin}${target.pathname}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  return new Promise<HttpReply>((resolve, reject) => {
    if (target.unsupported !== undefined) {
      reject(transportError(new TypeError(target.unsupported)));
      return;
    }
    const handler = new Collector(resolve, (err) => reject(transportError(err)));
    try {
      dispatcher.dispatch(
        {
          origin: target.origin,
          path: call.query === undefined ? target.path : appendQuery(target, call.query),
          method,
          headers: headersOf(call.headers),
          body: body ?? null,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        },
        handler,
      );
    } catch (err) {
      reject(transportError(err));
    }
  });
}

/** Parses a JSON object answer; anything else is a {@link DtmClientError}. */
function parseObject(reply: HttpReply, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.text);
  } catch (err) {
    throw new DtmClientError(`${what}: the answer is not JSON: ${reply.text.slice(0, 200)}`, { status: reply.status, body: reply.text, cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DtmClientError(`${what}: the answer is not a JSON object: ${reply.text.slice(0, 200)}`, { status: reply.status, body: reply.text });
  }
  return parsed as Record<string, unknown>;
}

/** Options of {@link callDtm}. */
export interface DtmCall extends HttpCall {
  /**
   * The endpoint answers with data (`prepareWorkflow`, `newGid`, `query`): a failure is read from
   * the status or a `dtm_result: "FAILURE"` field only, since the data itself (a gid, a reason)
   * may contain the word. DTM's SDKs likewise apply the substring rule only to the endpoints that
   * answer `{"dtm_result":…}`.
   * @default false
   */
  readonly dataReply?: boolean;
}

/**
 * Calls a coordinator endpoint: `server` is the API base (e.g. `http://localhost:36789/api/dtmsvr`)
 * and `path` the endpoint (`prepare`, `submit`, `registerBranch`, `newGid`, …). POST when a body
 * is given, else GET. Returns the parsed JSON object of a successful answer.
 * @throws FailureError on 409 or a body containing `FAILURE` (see `dataReply`); OngoingError on
 *   425; DtmClientError on any other status, a transport error or an answer that is not a JSON object.
 */
export async function callDtm(server: string, path: string, call: DtmCall = {}): Promise<Record<string, unknown>> {
  const reply = await httpCall(`${server.replace(/\/+$/, '')}/${path}`, call);
  if (call.dataReply !== true) {
    const err = dtmResponseError(reply.status, reply.text);
    if (err !== undefined) throw err;
    return parseObject(reply, path);
  }
  const err = dtmResponseError(reply.status, reply.status === 200 ? '' : reply.text);
  if (err !== undefined) throw err;
  const parsed = parseObject(reply, path);
  if (parsed['dtm_result'] === 'FAILURE') throw new FailureError(typeof parsed['message'] === 'string' ? parsed['message'] : 'FAILURE', { body: reply.text });
  return parsed;
}

/**
 * Calls a business service URL (a TCC try, an XA action, a msg check-back) and maps the answer
 * as the coordinator would (§2).
 * @throws OngoingError on 425 or `ONGOING` in the body; FailureError on 409 or `FAILURE`;
 *   DtmClientError on any other status than 200 or a transport error.
 */
export async function callBranchUrl(url: string, call: HttpCall = {}): Promise<HttpReply> {
  const reply = await httpCall(url, call);
  const err = branchResponseError(reply.status, reply.text);
  if (err !== undefined) throw err;
  return reply;
}

/** Asks the coordinator for a fresh gid (`GET newGid`). */
export async function newGid(server: string): Promise<string> {
  const reply = await callDtm(server, 'newGid', { dataReply: true });
  const gid = reply['gid'];
  if (typeof gid !== 'string' || gid === '') throw new DtmClientError(`newGid: no gid in the answer ${JSON.stringify(reply)}`);
  return gid;
}

export { genGid } from './gid.js';
