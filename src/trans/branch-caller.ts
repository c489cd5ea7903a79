/**
 * Calls a branch by the transport DTM's rule picks for it (branch-transport.ts): HTTP through
 * undici, JSON-RPC over HTTP, or gRPC through one cached channel per target. The HTTP client
 * fences its own connections (url-fence.ts); a gRPC target is fenced here, by its host's
 * addresses, before each call.
 */
import type { Dispatcher } from 'undici';
import type { UrlFence } from '../url-fence.js';
import { callBranch, type BranchOutcome, type BranchRequest } from './branch-call.js';
import { branchHost } from './branch-target.js';
import { branchTransport } from './branch-transport.js';
import type { GrpcBranchCaller } from './grpc-branch-call.js';
import { callJsonRpcBranch } from './json-rpc-branch-call.js';

export interface BranchCaller {
  /** Calls `req.url` as a branch of a transaction with `protocol`; never throws. */
  call(protocol: string, req: BranchRequest): Promise<BranchOutcome>;
}

export function createBranchCaller(deps: { dispatcher: Dispatcher; grpc: GrpcBranchCaller; fence: UrlFence }): BranchCaller {
  const { dispatcher, grpc, fence } = deps;

  async function callGrpc(req: BranchRequest): Promise<BranchOutcome> {
    if (!fence.open) {
      const host = branchHost(req.url, 'grpc');
      const why = host === undefined ? undefined : await fence.checkHost(host);
      if (why !== undefined) return { result: 'ERROR', status: 0, detail: `[DTM_URL_DENIED] ${why}` };
    }
    return grpc.call({ url: req.url, body: req.body, query: req.query, headers: req.headers, timeoutMs: req.timeoutMs });
  }

  return {
    call(protocol, req) {
      switch (branchTransport(protocol, req.url)) {
        case 'none':
          return Promise.resolve({ result: 'SUCCESS', status: 200, detail: '' });
        case 'http':
          return callBranch(dispatcher, req);
        case 'json-rpc':
          return callJsonRpcBranch(dispatcher, req);
        case 'grpc':
          return callGrpc(req);
      }
    },
  };
}
