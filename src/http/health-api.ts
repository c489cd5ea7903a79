/**
 * Health endpoints beside DTM's `/api/ping`, for load balancers and Kubernetes probes:
 * `/livez` answers while the process serves; `/readyz` answers 200 only when Redis answers on
 * every master with the scripts loaded and the process is not draining, else 503 with the reason.
 */
import type { Handler } from './handler.js';

export interface Readiness {
  /** Why this process cannot take traffic, or undefined when it can. */
  notReadyReason(): Promise<string | undefined>;
}

export function createHealthApi(readiness: Readiness): Record<string, Handler> {
  return {
    'GET /livez': () => ({ status: 200, body: { status: 'ok' } }),
    'GET /readyz': async () => {
      const reason = await readiness.notReadyReason();
      return reason === undefined ? { status: 200, body: { status: 'ready' } } : { status: 503, body: { status: 'not ready', reason } };
    },
  };
}
