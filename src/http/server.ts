/**
 * The uWebSockets.js HTTP front. The native binary is loaded directly: the npm package would
 * otherwise fall back silently to a slow pure-JS server when the binary does not load, and we
 * refuse that unless UWS_ALLOW_FALLBACK=1 says so out loud.
 */
import { createRequire } from 'node:module';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Logger } from '../log.js';
import type * as Uws from 'uWebSockets.js';

type UwsModule = typeof Uws;

const require = createRequire(import.meta.url);

/** Which implementation is in use: the native binary, or the pure-JS fallback when allowed. */
export let uwsImplementation: 'native' | 'fallback' = 'native';

function loadUws(): UwsModule {
  const binary = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(binary) as UwsModule;
  } catch (err) {
    if (process.env['UWS_ALLOW_FALLBACK'] !== '1') {
      throw new Error(
        `the native uWebSockets.js binary (${binary}) does not load here: ${(err as Error).message}. ` +
          'Set UWS_ALLOW_FALLBACK=1 to run on the slow pure-JS fallback instead.',
        { cause: err },
      );
    }
    uwsImplementation = 'fallback';
    return require('uWebSockets.js') as UwsModule;
  }
}

const uws = loadUws();

export type RouteHandler = (res: HttpResponse, req: HttpRequest) => void;

export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting connections. */
  close(): void;
}

/** Builds the app, lets `register` add routes, and listens. */
export function listen(host: string, port: number, register: (app: TemplatedApp) => void, log: Logger): Promise<HttpServer> {
  const app = uws.App();
  register(app);
  return new Promise((resolve, reject) => {
    app.listen(host, port, (token: us_listen_socket | false) => {
      if (!token) {
        reject(new Error(`cannot listen on ${host}:${port}`));
        return;
      }
      const bound = uws.us_socket_local_port(token);
      log.info({ port: bound, uws: uwsImplementation }, 'HTTP server listening');
      resolve({
        port: bound,
        close: () => uws.us_listen_socket_close(token),
      });
    });
  });
}
