/**
 * The uWebSockets.js backend: the router's routes registered on a uWS app, each request snapshot
 * inside uWS's callback, every reply corked. The native binary is loaded directly from its file:
 * the npm package's own entry falls back silently to a slow pure-JS server (on `ws`) when the
 * binary does not load, and we never want that; `server.ts` picks the node:http backend instead.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type * as Uws from 'uWebSockets.js';
import { portInUse, type HttpServer, type ListenAt } from './backend.js';
import { REQUEST_HEADERS, type RequestHeaderName, type RequestMeta } from './handler.js';
import { statusLine } from './respond.js';
import { EMPTY_CHUNK, type Route, type Router, type Send } from './route.js';

type UwsModule = typeof Uws;

const require = createRequire(import.meta.url);

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: bind without SO_REUSEPORT. */
const LISTEN_EXCLUSIVE_PORT = 1;
/** uSockets' default: SO_REUSEPORT on Linux, so processes that all ask for it share the port. */
const LISTEN_SHARED_PORT = 0;

/**
 * Where a native binary may be, in order; each package ships one file per platform, arch and Node
 * ABI. `uWebSockets.js` (20.30, from @trufflesuite/uws-js-unofficial) has Node 16, 18 and 20
 * binaries that need glibc 2.27; the optional `@btc-vision/uwebsockets.js` (20.57) has Node 20,
 * 22, 24 and 25 binaries that need glibc 2.38 (Debian 13, Ubuntu 24.04), so on Debian 12 no
 * binary loads on Node 22 or 24 and server.ts serves with node:http.
 */
const UWS_PACKAGES = ['uWebSockets.js', '@btc-vision/uwebsockets.js'] as const;

/** The path of a package's binary (the second package's `exports` hides its files from a plain subpath require). */
function binaryPath(pkg: (typeof UWS_PACKAGES)[number], name: string): string {
  if (pkg === 'uWebSockets.js') return require.resolve(`uWebSockets.js/binaries/${name}`);
  return join(dirname(require.resolve(pkg)), name);
}

/** The binary file name of this platform, architecture and Node ABI. */
function uwsBinaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

export type UwsLoad = { ok: true; uws: UwsModule; binary: string } | { ok: false; reason: string };

let loaded: UwsLoad | undefined;

/** Why one binary did not load, in one line. */
function loadFailure(binary: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'MODULE_NOT_FOUND') return `${binary}: not installed or no binary for Node ABI ${process.versions.modules} (${process.version})`;
  return `${binary}: ${e.message.split('\n')[0]!}`;
}

/** Loads the first native binary that loads here, once; the reason lists every failure. */
export function loadUws(): UwsLoad {
  if (loaded !== undefined) return loaded;
  const failures: string[] = [];
  for (const pkg of UWS_PACKAGES) {
    const name = `${pkg}/${uwsBinaryName()}`;
    try {
      loaded = { ok: true, uws: require(binaryPath(pkg, uwsBinaryName())) as UwsModule, binary: name };
      return loaded;
    } catch (err) {
      failures.push(loadFailure(name, err));
    }
  }
  loaded = { ok: false, reason: failures.join('; ') };
  return loaded;
}

/** Listens with uWS; `loadUws()` must have succeeded. */
export function listenUws(uws: UwsModule, router: Router, at: ListenAt): Promise<HttpServer> {
  const app = uws.App();
  register(app, router);
  return new Promise((resolve, reject) => {
    const onListen = (token: us_listen_socket | false): void => {
      if (!token) {
        // uSockets reports no errno; a taken port is by far the likeliest cause.
        reject(portInUse(at, 'the address is in use or not available'));
        return;
      }
      resolve({
        port: uws.us_socket_local_port(token),
        backend: 'uws',
        close: () => uws.us_listen_socket_close(token),
        // uWS keeps no handle that holds the process open once the listen socket is closed.
        closeConnections: () => undefined,
      });
    };
    // The typings lack the (host, port, options, cb) overload that the binary accepts.
    const listen = app.listen.bind(app) as unknown as (host: string, port: number, options: number, cb: typeof onListen) => TemplatedApp;
    listen(at.host, at.port, at.sharePort ? LISTEN_SHARED_PORT : LISTEN_EXCLUSIVE_PORT, onListen);
  });
}

function register(app: TemplatedApp, router: Router): void {
  for (const route of router.routes) {
    const h = handle(router, route);
    switch (route.method) {
      case 'GET':
        app.get(route.path, h);
        break;
      case 'POST':
        app.post(route.path, h);
        break;
      case 'DELETE':
        app.del(route.path, h);
        break;
      case 'ANY':
        app.any(route.path, h);
        break;
    }
  }
  app.any('/*', (res) => router.notFound(sender(res)));
}

/** One corked write of the whole response. */
function sender(res: HttpResponse): Send {
  return (status, contentType, body, extra) => {
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
      if (extra !== undefined) for (const name in extra) res.writeHeader(name, extra[name]!);
      res.end(body);
    });
  };
}

const decoder = new TextDecoder();

/** The headers a header route reads, and the peer address; only valid inside uWS's request callback. */
function meta(res: HttpResponse, req: HttpRequest): RequestMeta {
  const headers: Partial<Record<RequestHeaderName, string>> = {};
  for (const name of REQUEST_HEADERS) {
    const v = req.getHeader(name);
    if (v !== '') headers[name] = v;
  }
  return { headers, remote: decoder.decode(res.getRemoteAddressAsText()) };
}

function handle(router: Router, route: Route): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    // Everything is read from req now: it is invalid after this function returns.
    const params: string[] = [];
    for (let i = 0; i < route.paramCount; i++) params.push(req.getParameter(i) ?? '');
    // A `/*` route's rest of the path, raw as node:http hands it over (the router decodes it).
    if (route.wildcard !== undefined) params.push(req.getUrl().slice(route.wildcard.length));
    const x = router.begin(route, req.getQuery() ?? '', params, sender(res), route.headers ? meta(res, req) : undefined);
    res.onAborted(() => x.abort());
    if (!route.hasBody) {
      x.data(EMPTY_CHUNK, true);
      return;
    }
    res.onData((chunk, isLast) => {
      // uWS neuters the chunk when this callback returns: a non-last one is kept as a copy, the
      // last (often the only) one is read during the call, without a copy.
      x.data(new Uint8Array(isLast ? chunk : chunk.slice(0)), isLast);
    });
  };
}
