/**
 * The HTTP front: picks the backend and listens. `HTTP_BACKEND=auto` (the default) serves with
 * native uWebSockets.js where its binary loads (Node 20 here) and with node:http elsewhere
 * (Node 22 and 24 on Debian 12, whose glibc 2.36 the newer uWS binaries do not support); `uws` or
 * `node` insists on one. Never uWS's pure-JS fallback: it is node:http under a uWS-shaped layer
 * (slower than node:http alone, and its getQuery() throws on Node 22). The start-up line says
 * which backend serves, and why when `auto` could not use uWS.
 */
import type { HttpBackendChoice } from '../config.js';
import type { Logger } from '../log.js';
import { ListenError, type HttpBackendName, type HttpServer, type ListenAt } from './backend.js';
import { listenNode } from './node-backend.js';
import type { Router } from './route.js';
import { loadUws, listenUws } from './uws-backend.js';

export type { HttpBackendName, HttpServer } from './backend.js';

export interface ListenOptions extends ListenAt {
  backend: HttpBackendChoice;
  log: Logger;
}

/** How the start-up line names each backend. */
const BACKEND_NAMES: Readonly<Record<HttpBackendName, string>> = {
  uws: 'uWebSockets.js (native)',
  node: 'node:http',
};

/**
 * Serves `router` on the chosen backend.
 * @throws ListenError when the port is taken (`[DTM_PORT_IN_USE]`) or `HTTP_BACKEND=uws` cannot load its binary.
 */
export async function listen(router: Router, opts: ListenOptions): Promise<HttpServer> {
  const { log } = opts;
  const at: ListenAt = { host: opts.host, port: opts.port, sharePort: opts.sharePort };
  let server: HttpServer;
  let binary: string | undefined;
  if (opts.backend === 'node') {
    server = await listenNode(router, at);
  } else {
    const uws = loadUws();
    if (uws.ok) {
      server = await listenUws(uws.uws, router, at);
      binary = uws.binary;
    } else if (opts.backend === 'uws') {
      throw new ListenError(`[DTM_HTTP_BACKEND] HTTP_BACKEND=uws, but no native uWebSockets.js binary loads here: ${uws.reason}`);
    } else {
      log.warn(
        { reason: uws.reason, node: process.version },
        'no native uWebSockets.js binary loads on this runtime: serving with node:http instead (slower, see bench/README.md)',
      );
      server = await listenNode(router, at);
    }
  }
  // The message stays `HTTP server listening` (scripts and tests look for it); the fields name the backend.
  log.info(
    {
      host: opts.host,
      port: server.port,
      backend: server.backend,
      server: BACKEND_NAMES[server.backend],
      ...(binary !== undefined ? { binary } : {}),
      node: process.version,
      sharePort: opts.sharePort,
    },
    'HTTP server listening',
  );
  return server;
}
