/**
 * The one wrapper every request goes through (DESIGN.md §6): abort flag, a synchronous snapshot
 * of the request, a bounded body read, JSON decoding, the handler, and exactly one corked reply.
 * Every error becomes DTM's body shape here and nowhere else.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { BadRequestError, OverloadedError, PayloadTooLargeError, toDtmError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Handler, Reply } from './handler.js';
import { JSON_TYPE, statusLine, TEXT_TYPE } from './respond.js';

/** Observes each request (DTM's `dtm_server_process_total` and response duration). */
export type RequestObserver = (api: string, status: number, seconds: number) => void;

export interface RouterOptions {
  /** Routes whose handler gets the body as raw text (it does its own parsing, e.g. JSON-RPC). */
  rawBodyRoutes?: ReadonlySet<string>;
  maxBodyBytes: number;
  maxInflight: number;
  log: Logger;
  observe: RequestObserver;
  /** Told of each request refused by the body limit (413) or the in-flight limit (503), for metrics. */
  onShed?: (reason: 'too_large' | 'overloaded') => void;
}

export interface Router {
  /** Requests in flight, for graceful shutdown. */
  inflight(): number;
  /** Registers every route on the app, plus gin's plain 404 for the rest. */
  register(app: TemplatedApp): void;
}

/** The `api` label: the route's last path segment, lower-cased (DTM's), never a query string or id. */
function apiLabel(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).toLowerCase();
}

/**
 * Percent-decodes a path parameter (gin matches on the decoded path). A malformed escape stays as
 * sent: decodeURIComponent would throw inside the uWS callback and take the process down.
 */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Creates the router over `routes`, keyed `METHOD /path` (METHOD may be ANY). */
export function createRouter(routes: Record<string, Handler>, opts: RouterOptions): Router {
  let inflight = 0;
  const { log } = opts;

  function reply(res: HttpResponse, state: { aborted: boolean; done: boolean }, r: Reply, api: string, started: number): void {
    if (state.done) return;
    state.done = true;
    inflight--;
    opts.observe(api, r.status, (performance.now() - started) / 1000);
    if (state.aborted) return;
    const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    res.cork(() => {
      res
        .writeStatus(statusLine(r.status))
        .writeHeader('content-type', typeof r.body === 'string' ? TEXT_TYPE : JSON_TYPE)
        .end(body);
    });
  }

  function errorReply(err: unknown, api: string): Reply {
    const e = toDtmError(err);
    if (e.status >= 500 && e.code !== 'INTERNAL') log.error({ api, err: e.message, cause: e.cause }, 'request failed');
    const body: Record<string, string> = {};
    if (e.dtmResult !== undefined) body['dtm_result'] = e.dtmResult;
    body['message'] = e.message;
    return { status: e.status, body };
  }

  function handle(handler: Handler, api: string, hasBody: boolean, paramCount: number, rawBody: boolean): (res: HttpResponse, req: HttpRequest) => void {
    return (res, req) => {
      const started = performance.now();
      const state = { aborted: false, done: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      inflight++;
      // Snapshot everything from req now: it is invalid after this function returns.
      const query = new URLSearchParams(req.getQuery() ?? '');
      const params: string[] = [];
      for (let i = 0; i < paramCount; i++) params.push(decodeParam(req.getParameter(i) ?? ''));

      const run = (body: unknown): void => {
        if (inflight > opts.maxInflight) {
          opts.onShed?.('overloaded');
          reply(res, state, errorReply(new OverloadedError(), api), api, started);
          return;
        }
        let result: Promise<Reply> | Reply;
        try {
          result = handler({ body, query, params });
        } catch (err) {
          reply(res, state, errorReply(err, api), api, started);
          return;
        }
        if (result instanceof Promise) {
          result.then(
            (r) => reply(res, state, r, api, started),
            (err: unknown) => reply(res, state, errorReply(err, api), api, started),
          );
        } else {
          reply(res, state, result, api, started);
        }
      };

      if (!hasBody) {
        run(undefined);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.onData((chunk, isLast) => {
        if (state.done) return;
        size += chunk.byteLength;
        if (size > opts.maxBodyBytes) {
          opts.onShed?.('too_large');
          reply(res, state, errorReply(new PayloadTooLargeError(opts.maxBodyBytes), api), api, started);
          return;
        }
        if (!isLast) {
          // uWS neuters the chunk when this callback returns: keep a copy.
          chunks.push(Buffer.from(chunk.slice(0)));
          return;
        }
        // The last (often the only) chunk is decoded while it is still valid, without a copy.
        const text = chunks.length === 0 ? Buffer.from(chunk).toString('utf8') : Buffer.concat([...chunks, Buffer.from(chunk)]).toString('utf8');
        if (rawBody) {
          run(text);
          return;
        }
        let body: unknown;
        try {
          body = text.length === 0 ? {} : JSON.parse(text);
        } catch (err) {
          reply(res, state, errorReply(new BadRequestError(`[DTM_BAD_JSON] the body is not valid JSON: ${(err as Error).message}`), api), api, started);
          return;
        }
        run(body);
      });
    };
  }

  return {
    inflight: () => inflight,
    register(app) {
      for (const [key, handler] of Object.entries(routes)) {
        const space = key.indexOf(' ');
        const method = key.slice(0, space);
        const path = key.slice(space + 1);
        const api = apiLabel(path.replace(/\/:[^/]+$/, ''));
        const paramCount = (path.match(/\/:/g) ?? []).length;
        const hasBody = method === 'POST';
        const h = handle(handler, api, hasBody, paramCount, opts.rawBodyRoutes?.has(key) ?? false);
        switch (method) {
          case 'GET':
            app.get(path, h);
            break;
          case 'POST':
            app.post(path, h);
            break;
          case 'DELETE':
            app.del(path, h);
            break;
          case 'ANY':
            app.any(path, h);
            break;
          default:
            throw new Error(`unsupported method in route ${key}`);
        }
      }
      // gin's answer for an unknown route or method.
      app.any('/*', (res) => {
        opts.observe('unknown', 404, 0);
        res.cork(() => {
          res.writeStatus(statusLine(404)).writeHeader('content-type', TEXT_TYPE).end('404 page not found');
        });
      });
    },
  };
}
