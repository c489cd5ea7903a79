/**
 * The one wrapper every request goes through (DESIGN.md §6), whichever HTTP backend carries it
 * (`uws-backend.ts` or `node-backend.ts`): route matching, abort handling, a bounded body read,
 * JSON decoding, load shedding, the handler, exactly one reply, and the request metrics. Every
 * error becomes DTM's body shape here and nowhere else. Nothing in this file knows a transport:
 * a backend hands over the query string, the raw path parameters, the body bytes and (for the
 * routes that ask) a few request headers, and gets back one `send(status, contentType, body, headers)`.
 */
import { BadRequestError, OverloadedError, PayloadTooLargeError, toDtmError } from '../errors.js';
import type { Logger } from '../log.js';
import { NO_META, type Handler, type Reply, type RequestMeta } from './handler.js';
import { JSON_TYPE, TEXT_TYPE, type ResponseHeaders } from './respond.js';

/** Observes each request (DTM's `dtm_server_process_total` and response duration). */
export type RequestObserver = (api: string, status: number, seconds: number) => void;

export interface RouterOptions {
  /** Routes whose handler gets the body as raw text (it does its own parsing, e.g. JSON-RPC). */
  rawBodyRoutes?: ReadonlySet<string>;
  /** Routes whose handler reads request headers and the peer address (`ApiRequest.meta`); the others get none. */
  headerRoutes?: ReadonlySet<string>;
  maxBodyBytes: number;
  maxInflight: number;
  log: Logger;
  observe: RequestObserver;
  /** Told of each request refused by the body limit (413) or the in-flight limit (503), for metrics. */
  onShed?: (reason: 'too_large' | 'overloaded') => void;
}

/** The methods a route may name; ANY matches every method. */
const ROUTE_METHODS = ['GET', 'POST', 'DELETE', 'ANY'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];

/** One entry of the route table, as a backend registers it. */
export interface Route {
  /** `METHOD /path`, the key it was given under. */
  readonly key: string;
  readonly method: RouteMethod;
  /**
   * The path pattern, uWS syntax: `/api/dtmsvr/topic/:topicName`, or a prefix ending in `/*`
   * (`/admin/*`) that matches every path below it and hands the rest over as the last parameter
   * (percent-decoded, as every parameter is).
   */
  readonly path: string;
  /** Path segments (`path.split('/')`); a segment starting with `:` is a parameter. */
  readonly segments: readonly string[];
  /** The `api` metric label. */
  readonly api: string;
  /** `:name` parameters, not counting a wildcard's rest. */
  readonly paramCount: number;
  /** For a `/*` route, the prefix it matches (`/admin/`); undefined for the others. */
  readonly wildcard: string | undefined;
  /** POST routes read a body; the others never do. */
  readonly hasBody: boolean;
  readonly rawBody: boolean;
  /** The backend snapshots request headers and the peer address for this route. */
  readonly headers: boolean;
  readonly handler: Handler;
}

/** Writes the one response of a request. Called at most once, and never after an abort. */
export type Send = (status: number, contentType: string, body: string | Uint8Array, headers?: ResponseHeaders) => void;

/** One request in progress: the backend feeds it body bytes and tells it about an abort. */
export interface Exchange {
  /**
   * A piece of the body. A chunk passed with `isLast` false must stay valid after the call (the
   * backend copies it if its buffer is reused); the last one is only read during the call. A
   * route without a body gets one empty last chunk, which starts its handler.
   */
  data(chunk: Uint8Array, isLast: boolean): void;
  /** The client went away: a running handler finishes, but nothing is sent. */
  abort(): void;
}

export interface Router {
  /** Requests in flight, for graceful shutdown. */
  inflight(): number;
  /** Every route, for a backend with its own router (uWS). */
  readonly routes: readonly Route[];
  /** The route of `method` and `path` (undecoded, no query string) and its raw parameters, for a backend without one (node:http). */
  match(method: string, path: string): { route: Route; params: string[] } | undefined;
  /**
   * Starts a request on `route`; nothing runs until its first `data` call. `meta` carries the
   * request headers and peer address of a route with `headers` set.
   */
  begin(route: Route, query: string, rawParams: readonly string[], send: Send, meta?: RequestMeta): Exchange;
  /** gin's answer for an unknown route or method. */
  notFound(send: Send): void;
}

/** The one chunk of a route without a body, and the last chunk of a body whose end carries no bytes. */
export const EMPTY_CHUNK = new Uint8Array(0);

const UNAUTHORIZED_HEADERS: ResponseHeaders = Object.freeze({ 'www-authenticate': 'Bearer realm="dtm-redis"', 'cache-control': 'no-store' });

/** The `api` label: the route's last path segment, lower-cased (DTM's), never a query string or id. */
function apiLabel(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).toLowerCase();
}

/**
 * Percent-decodes a path parameter (gin matches on the decoded path). A malformed escape stays as
 * sent: decodeURIComponent would throw inside the backend's callback and take the process down.
 */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The body as text: the last chunk alone when it is the whole body (no copy), else all of them joined. */
function bodyText(chunks: readonly Uint8Array[], last: Uint8Array): string {
  if (chunks.length === 0) return Buffer.from(last.buffer, last.byteOffset, last.byteLength).toString('utf8');
  return Buffer.concat([...chunks, last]).toString('utf8');
}

function parseRoute(key: string, handler: Handler, opts: RouterOptions): Route {
  const space = key.indexOf(' ');
  const method = key.slice(0, space) as RouteMethod;
  if (!ROUTE_METHODS.includes(method)) throw new Error(`unsupported method in route ${key}`);
  const path = key.slice(space + 1);
  const wildcard = path.endsWith('/*') ? path.slice(0, -1) : undefined;
  if (path.indexOf('*') !== (wildcard === undefined ? -1 : path.length - 1)) throw new Error(`a * may only end a route: ${key}`);
  return {
    key,
    method,
    path,
    segments: path.split('/'),
    api: apiLabel(path.replace(/\/\*$/, '').replace(/\/:[^/]+$/, '')),
    paramCount: (path.match(/\/:/g) ?? []).length,
    wildcard,
    hasBody: method === 'POST',
    rawBody: opts.rawBodyRoutes?.has(key) ?? false,
    headers: opts.headerRoutes?.has(key) ?? false,
    handler,
  };
}

/** Creates the router over `routes`, keyed `METHOD /path` (METHOD may be ANY). */
export function createRouter(routes: Record<string, Handler>, opts: RouterOptions): Router {
  let inflight = 0;
  const { log } = opts;
  const table = Object.entries(routes).map(([key, handler]) => parseRoute(key, handler, opts));
  // Static paths by `METHOD path` for the common case; routes with parameters are tried in order.
  const exact = new Map<string, Route>();
  const patterns: Route[] = [];
  for (const r of table) {
    if (r.paramCount === 0 && r.wildcard === undefined) exact.set(`${r.method} ${r.path}`, r);
    else patterns.push(r);
  }

  function errorReply(err: unknown, api: string): Reply {
    const e = toDtmError(err);
    if (e.status >= 500 && e.code !== 'INTERNAL') log.error({ api, err: e.message, cause: e.cause }, 'request failed');
    const body: Record<string, string> = {};
    if (e.dtmResult !== undefined) body['dtm_result'] = e.dtmResult;
    body['message'] = e.message;
    // RFC 6750: a 401 names the scheme that would be accepted.
    if (e.code === 'UNAUTHORIZED') return { status: e.status, body, headers: UNAUTHORIZED_HEADERS };
    return { status: e.status, body };
  }

  function matchPattern(r: Route, method: string, path: string, parts: readonly string[]): string[] | undefined {
    if (r.method !== 'ANY' && r.method !== method) return undefined;
    if (r.wildcard !== undefined) return path.startsWith(r.wildcard) ? [path.slice(r.wildcard.length)] : undefined;
    if (parts.length !== r.segments.length) return undefined;
    const params: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const seg = r.segments[i]!;
      if (seg.startsWith(':')) {
        if (parts[i] === '') return undefined;
        params.push(parts[i]!);
      } else if (seg !== parts[i]) {
        return undefined;
      }
    }
    return params;
  }

  return {
    inflight: () => inflight,
    routes: table,

    match(method, path) {
      const m = method.toUpperCase();
      const route = exact.get(`${m} ${path}`) ?? exact.get(`ANY ${path}`);
      if (route !== undefined) return { route, params: [] };
      const parts = path.split('/');
      for (const r of patterns) {
        const params = matchPattern(r, m, path, parts);
        if (params !== undefined) return { route: r, params };
      }
      return undefined;
    },

    begin(route, rawQuery, rawParams, send, meta = NO_META) {
      const started = performance.now();
      const { api } = route;
      let aborted = false;
      let done = false;
      let ran = false;
      let size = 0;
      const chunks: Uint8Array[] = [];
      inflight++;
      // Snapshot the request now: a backend's request object may be invalid once its callback returns.
      const query = new URLSearchParams(rawQuery);
      const params = rawParams.map(decodeParam);

      const reply = (r: Reply): void => {
        if (done) return;
        done = true;
        inflight--;
        opts.observe(api, r.status, (performance.now() - started) / 1000);
        if (aborted) return;
        const { body } = r;
        if (typeof body === 'string') send(r.status, r.contentType ?? TEXT_TYPE, body, r.headers);
        else if (body instanceof Uint8Array) send(r.status, r.contentType ?? 'application/octet-stream', body, r.headers);
        else send(r.status, r.contentType ?? JSON_TYPE, JSON.stringify(body), r.headers);
      };
      const fail = (err: unknown): void => reply(errorReply(err, api));

      const run = (body: unknown): void => {
        ran = true;
        if (inflight > opts.maxInflight) {
          opts.onShed?.('overloaded');
          fail(new OverloadedError());
          return;
        }
        let result: Promise<Reply> | Reply;
        try {
          result = route.handler({ body, query, params, meta });
        } catch (err) {
          fail(err);
          return;
        }
        if (result instanceof Promise) result.then(reply, fail);
        else reply(result);
      };

      return {
        data(chunk, isLast) {
          if (done || ran || aborted) return;
          if (!route.hasBody) {
            if (isLast) run(undefined);
            return;
          }
          size += chunk.byteLength;
          if (size > opts.maxBodyBytes) {
            opts.onShed?.('too_large');
            fail(new PayloadTooLargeError(opts.maxBodyBytes));
            return;
          }
          if (!isLast) {
            chunks.push(chunk);
            return;
          }
          const text = bodyText(chunks, chunk);
          chunks.length = 0;
          if (route.rawBody) {
            run(text);
            return;
          }
          let body: unknown;
          try {
            body = text.length === 0 ? {} : JSON.parse(text);
          } catch (err) {
            fail(new BadRequestError(`[DTM_BAD_JSON] the body is not valid JSON: ${(err as Error).message}`));
            return;
          }
          run(body);
        },
        abort() {
          aborted = true;
          // Gone before its body arrived: the handler never runs, so nothing else would end it.
          if (!ran && !done) {
            done = true;
            inflight--;
          }
        },
      };
    },

    notFound(send) {
      opts.observe('unknown', 404, 0);
      send(404, TEXT_TYPE, '404 page not found');
    },
  };
}
