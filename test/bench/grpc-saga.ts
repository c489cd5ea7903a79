/**
 * The grpc-saga driver's pre-encoded Submit request (bench/lib/grpc-saga.ts): byte for byte what
 * protobufjs makes of the same DtmRequest, for gids whose length needs one or two varint bytes,
 * and it decodes back to the request.
 */
import t from 'tap';
import { grpcSagaEncoder, grpcSagaRequest } from '../../bench/lib/grpc-saga.js';
import { dtmServiceDefinition } from '../../src/grpc/protos.js';

const submit = dtmServiceDefinition()['Submit']!;
const serialize = submit.requestSerialize as (req: object) => Buffer;
const deserialize = submit.requestDeserialize as (b: Buffer) => Record<string, unknown>;
const payload = Buffer.from([0x08, 30]);

for (const stub of ['127.0.0.1:4000', 'http://127.0.0.1:4001']) {
  t.test(`Submit bytes for stub ${stub}`, async (t) => {
    const encode = grpcSagaEncoder(stub, payload);
    for (const gid of ['g', 'bench-1-0123456789', 'x'.repeat(127), 'y'.repeat(128), 'é'.repeat(200)]) {
      const bytes = encode(gid);
      t.equal(bytes.toString('hex'), serialize(grpcSagaRequest(gid, stub, payload)).toString('hex'), `gid of ${Buffer.byteLength(gid)} bytes`);
      t.match(deserialize(bytes), { Gid: gid, TransType: 'saga', TransOptions: { WaitResult: true } });
    }
  });
}
