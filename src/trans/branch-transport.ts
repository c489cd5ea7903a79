/**
 * Which transport calls a branch URL, by DTM's rule (trans_status.go getURLResult; dtm-grpc.md
 * §4.1, dtm-protocol.md §3.6): an empty URL is not called; HTTP when the transaction's protocol
 * is `http` or the URL starts with `http://`/`https://` (case-sensitive, as Go's HasPrefix), and
 * among those JSON-RPC when the protocol is `json-rpc` and the URL contains `method` anywhere;
 * every other URL is a gRPC call. So a `grpc` transaction may mix in http(s) branches, and a
 * `json-rpc` transaction's non-http URL is called over gRPC.
 */

export type BranchTransport = 'none' | 'http' | 'json-rpc' | 'grpc';

export function branchTransport(protocol: string, url: string): BranchTransport {
  if (url === '') return 'none';
  if (protocol === 'http' || url.startsWith('http://') || url.startsWith('https://')) {
    return protocol === 'json-rpc' && url.includes('method') ? 'json-rpc' : 'http';
  }
  return 'grpc';
}
