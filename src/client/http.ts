/**
 * The SDK's HTTP layer: calls to the coordinator (`callDtm`) and to business services
 * (`callBranchUrl`), over one keep-alive undici agent, plus gid generation.
 */
import { Agent, request, type Dispatcher } from 'undici';
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

/** Sends one request and reads the whole answer. Transport errors become {@link DtmClientError}. */
export async function httpCall(url: string, call: HttpCall = {}): Promise<HttpReply> {
  const { timeoutMs, dispatcher } = current();
  const u = new URL(url);
  for (const [k, v] of Object.entries(call.query ?? {})) u.searchParams.append(k, v);
  const body = call.body === undefined ? undefined : encodePayload(call.body);
  const method = call.method ?? (body === undefined ? 'GET' : 'POST');
  const timeout = call.timeoutMs ?? timeoutMs;
  try {
    const res = await request(u, {
      method,
      dispatcher,
      headers: { 'content-type': 'application/json', ...call.headers },
      ...(body === undefined ? {} : { body }),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    return { status: res.statusCode, text: await res.body.text() };
  } catch (err) {
    throw new DtmClientError(`${method} ${u.origin}${u.pathname}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
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
