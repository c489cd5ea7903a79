/**
 * Which token a gRPC method needs, as its HTTP twin does (http/access.ts): the client methods
 * need API_TOKEN when it is set, the topic changes ADMIN_TOKEN when it is set. The token travels
 * as `authorization: Bearer <token>` metadata.
 */
import type { Access } from '../http/auth.js';

const ADMIN_METHODS = new Set(['subscribe', 'unsubscribe', 'deletetopic']);

/** The access level of a gRPC method (lower-cased, as the server reports it). */
export function grpcAccessOf(api: string): Access {
  return ADMIN_METHODS.has(api) ? 'admin' : 'client';
}
