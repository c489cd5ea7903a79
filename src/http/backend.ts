/**
 * What the two HTTP backends share: the server they hand back, where they listen, and the
 * start-up error for an address that is taken. A backend only moves bytes: routing, bodies,
 * errors and metrics are the router's (`route.ts`).
 */

/** The HTTP backends: native uWebSockets.js, or Node's own `node:http`. */
export const HTTP_BACKENDS = ['uws', 'node'] as const;
export type HttpBackendName = (typeof HTTP_BACKENDS)[number];

export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly backend: HttpBackendName;
  /** Stops accepting connections; requests in flight go on and get their replies. */
  close(): void;
  /** Closes every connection still open: the end of a graceful stop, after the drain. */
  closeConnections(): void;
}

export interface ListenAt {
  host: string;
  port: number;
  /**
   * Share the port with other processes that also share it (SO_REUSEPORT): only `--workers`
   * does, on purpose. Otherwise the port is exclusive, so a second coordinator started on a busy
   * port fails instead of silently splitting the traffic with the first.
   */
  sharePort: boolean;
}

/** The HTTP server could not start; the message starts with a stable `[DTM_…]` code. */
export class ListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ListenError';
  }
}

/** The error for a port that another process holds. */
export function portInUse(at: ListenAt, detail: string, cause?: unknown): ListenError {
  return new ListenError(
    `[DTM_PORT_IN_USE] cannot listen on ${at.host}:${at.port}: ${detail}. Is another coordinator or server running there? ` +
      'Stop it or set HTTP_PORT to a free port (only the processes of one `--workers` coordinator share a port).',
    cause === undefined ? undefined : { cause },
  );
}
