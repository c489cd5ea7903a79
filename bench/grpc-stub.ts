/**
 * The gRPC stub business service, a child process of run.ts for grpc-saga: the gRPC twin of
 * stub.ts. Every `bench.Busi/<op>` answers OK with an empty message, except TransIn for a gid
 * (metadata `dtm-gid`) that ends in the fail mark, which answers Aborted "FAILURE" (the saga then
 * compensates). It counts calls per op and reports them over IPC on request.
 *
 * argv: port. Sends {type:'ready', port} once listening.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { StubStats } from './lib/ipc.js';
import { GRPC_STUB_METHODS, grpcStubDefinition } from './lib/grpc-stub-service.js';
import { FAIL_MARK } from './workloads.js';

const port = Number(process.argv[2] ?? 0);
const calls: Record<string, number> = {};
const EMPTY = Buffer.alloc(0);

const handler =
  (op: string) =>
  (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
    calls[op] = (calls[op] ?? 0) + 1;
    const gid = call.metadata.get('dtm-gid')[0];
    if (op === 'TransIn' && typeof gid === 'string' && gid.endsWith(FAIL_MARK)) callback({ code: status.ABORTED, details: 'FAILURE' });
    else callback(null, EMPTY);
  };

// Channelz off: per-call counters nobody reads, on the cores the coordinator is measured on.
const server = new Server({ 'grpc.enable_channelz': 0 });
const impl: UntypedServiceImplementation = Object.fromEntries(GRPC_STUB_METHODS.map((m) => [m, handler(m)]));
server.addService(grpcStubDefinition, impl);
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
  if (err !== null) {
    process.stderr.write(`grpc-stub: cannot listen on ${port}: ${err.message}\n`);
    process.exit(1);
  }
  process.send?.({ type: 'ready', port: bound });
});

process.on('message', (m: unknown) => {
  if ((m as { type?: string }).type === 'stats') {
    const s: StubStats = { type: 'stats', calls: { ...calls } };
    process.send?.(s);
  }
});
process.on('disconnect', () => process.exit(0));
