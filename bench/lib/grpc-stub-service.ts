/**
 * The gRPC stub's service, shared by bench/grpc-stub.ts and the grpc-saga driver: `bench.Busi`
 * with the four saga methods, on raw bytes. No .proto: the stub decodes nothing (the coordinator
 * sends the stored payload verbatim and ignores the reply), so a hand-written definition with
 * identity (de)serializers is the whole contract; an empty reply is a valid google.protobuf.Empty.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

export const GRPC_STUB_SERVICE = 'bench.Busi';
export const GRPC_STUB_METHODS = ['TransOut', 'TransIn', 'TransOutRevert', 'TransInRevert'] as const;

const identity = (b: Buffer): Buffer => b;

export const grpcStubDefinition: ServiceDefinition = Object.fromEntries(
  GRPC_STUB_METHODS.map((m) => [
    m,
    {
      path: `/${GRPC_STUB_SERVICE}/${m}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  ]),
);
