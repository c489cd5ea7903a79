/**
 * The node:http backend, for runtimes where no native uWebSockets.js binary loads (Node 22 and 24
 * on a C library older than the binaries need): the same router behind Node's own HTTP server.
 * It costs throughput (bench/README.md quotes how much) but nothing else: routing, bodies,
 * errors, shedding and metrics are the router's, so both backends answer alike.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ListenOptions } from 'node:net';
import { ListenError, portInUse, type HttpServer, type ListenAt } from './backend.js';
import { REQUEST_HEADERS, type RequestHeaderName, type RequestMeta } from './handler.js';
import { EMPTY_CHUNK, type Router, type Send } from './route.js';

/** Idle keep-alive connections close after this long, as uWS's do. */
const KEEP_ALIVE_TIMEOUT_MS = 10_000;

/** `listen({ reusePort })` (SO_REUSEPORT) exists from Node 22.12 and 23.1; older versions ignore the option. */
export function nodeCanSharePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The one response: whole, with its length. A reply sent before the body was read closes the connection (413). */
function sender(req: IncomingMessage, res: ServerResponse): Send {
  return (status, contentType, body, extra) => {
    const headers: Record<string, string | number> = { ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) };
    if (!req.complete) headers['connection'] = 'close';
    res.writeHead(status, headers).end(body);
  };
}

/** The headers a header route reads (Node joins repeated ones with ', ', cookies with '; '), and the peer. */
function meta(req: IncomingMessage): RequestMeta {
  const headers: Partial<Record<RequestHeaderName, string>> = {};
  for (const name of REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  return { headers, remote: req.socket.remoteAddress ?? '' };
}

function onRequest(router: Router): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const send = sender(req, res);
    const match = router.match(req.method ?? 'GET', path);
    if (match === undefined) {
      router.notFound(send);
      return;
    }
    const x = router.begin(match.route, q < 0 ? '' : url.slice(q + 1), match.params, send, match.route.headers ? meta(req) : undefined);
    // 'close' also follows a completed response: only an unfinished one is an abort.
    res.once('close', () => {
      if (!res.writableFinished) x.abort();
    });
    if (!match.route.hasBody) {
      x.data(EMPTY_CHUNK, true);
      return;
    }
    req.on('data', (chunk: Buffer) => x.data(chunk, false));
    req.on('end', () => x.data(EMPTY_CHUNK, true));
  };
}

/**
 * Listens with node:http. The port is exclusive unless `sharePort`; sharing needs SO_REUSEPORT
 * (Node ≥ 22.12), and in a cluster worker `exclusive: true` makes the worker bind its own socket
 * instead of asking the primary for one, so every process binds the port the way uWS does.
 */
export function listenNode(router: Router, at: ListenAt): Promise<HttpServer> {
  if (at.sharePort && !nodeCanSharePort()) {
    return Promise.reject(
      new ListenError(
        `[DTM_HTTP_BACKEND] the node:http backend shares a port between --workers processes only on Node ≥ 22.12 (listen option reusePort); this is Node ${process.versions.node}. ` +
          'Run one process, or a runtime where the uws backend loads.',
      ),
    );
  }
  const server = createServer({ requireHostHeader: false }, onRequest(router));
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  const options: ListenOptions & { reusePort?: boolean } = { host: at.host, port: at.port, exclusive: true };
  if (at.sharePort) options.reusePort = true;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') reject(portInUse(at, 'the address is in use (EADDRINUSE)', err));
      else reject(new ListenError(`[DTM_LISTEN] cannot listen on ${at.host}:${at.port}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : at.port,
        backend: 'node',
        close: () => server.close(),
        closeConnections: () => server.closeAllConnections(),
      });
    });
  });
}
