/**
 * The unary rules of a gRPC branch call, which the caller applies itself since it calls below
 * grpc-js's Client (src/trans/grpc-branch-call.ts): an OK status with no reply message is not a
 * success but UNIMPLEMENTED, an ERROR, as grpc-js's makeUnaryRequest has it; a second reply is
 * never read (one read per unary call), so that call ends at its deadline, an ERROR too, as it
 * did through makeUnaryRequest. A raw HTTP/2 server plays the misbehaving service: grpc-js's
 * own cannot.
 */
import { once } from 'node:events';
import { createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { status } from '@grpc/grpc-js';
import t from 'tap';
import { createGrpcBranchCaller } from '../../src/trans/grpc-branch-call.js';

/** A gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, the bytes. */
const frame = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, bytes.length]), bytes]);

/** Answers every call OK after `replies` messages, whatever it was sent. */
async function rawService(replies: number): Promise<{ target: string; server: Http2Server }> {
  const server = createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      for (let i = 0; i < replies; i++) stream.write(frame(Buffer.from([0x08, i])));
      stream.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { target: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const req = (target: string) => ({
  url: `${target}/busi.Busi/TransIn`,
  body: Buffer.from([0x08, 30]),
  query: { gid: 'g-1', trans_type: 'saga', branch_id: '01', op: 'action' },
  headers: {},
  timeoutMs: 400,
});

for (const [replies, expected] of [
  [1, { result: 'SUCCESS', status: status.OK, detail: '' }],
  [0, { result: 'ERROR', status: status.UNIMPLEMENTED, detail: 'No message received' }],
  [2, { result: 'ERROR', status: status.DEADLINE_EXCEEDED }],
] as const) {
  t.test(`OK with ${replies} reply message(s)`, async (t) => {
    const { target, server } = await rawService(replies);
    const caller = createGrpcBranchCaller();
    t.teardown(() => {
      caller.close();
      server.close();
    });
    t.match(await caller.call(req(target)), expected);
  });
}
