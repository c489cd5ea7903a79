/**
 * grpc-saga, the driver's side: a 2-step saga submitted with DTM's gRPC API
 * (`dtmgimp.Dtm/Submit`, WaitResult), as DTM's Go SDK sends it (`dtmgrpc.NewSagaGrpc(...).Add(...)`):
 * Steps is the JSON text of the action/compensate URLs, BinPayloads one message per step. The
 * branch URLs are gRPC (`host:port/bench.Busi/TransOut`) on bench/grpc-stub.ts, so the
 * coordinator calls them over gRPC, as it does for every transaction created through gRPC.
 */
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { dtmServiceDefinition } from '../../src/grpc/protos.js';
import { GRPC_STUB_SERVICE } from './grpc-stub-service.js';
import { TxError, type TxRunner } from './tx.js';
import { STUB_PREFIX } from '../workloads.js';

const SUBMIT = '/dtmgimp.Dtm/Submit';

/** The DtmRequest of one grpc-saga transaction (dtm-grpc.md §3). */
export function grpcSagaRequest(gid: string, stub: string, payload: Buffer): object {
  // An http(s) stub gets HTTP branch calls even in a gRPC transaction (dtm-grpc.md §4.1).
  const url = (m: string): string => (/^https?:\/\//.test(stub) ? `${stub}${STUB_PREFIX}/${m}` : `${stub}/${GRPC_STUB_SERVICE}/${m}`);
  return {
    Gid: gid,
    TransType: 'saga',
    TransOptions: { WaitResult: true },
    Steps: JSON.stringify([
      { action: url('TransOut'), compensate: url('TransOutRevert') },
      { action: url('TransIn'), compensate: url('TransInRevert') },
    ]),
    BinPayloads: [payload, payload],
  };
}

/**
 * The DtmRequest of `grpcSagaRequest(gid, …)` as protobufjs encodes it, built from bytes encoded
 * once: every field but Gid is the same for each transaction, and Gid is field 1, which an
 * encoder writes first, so the message is that field (tag 0x0a, varint length, UTF-8 bytes)
 * followed by the rest. Saves the driver, which shares the cores with the coordinator, a JSON
 * and a protobuf encoding per transaction.
 */
export function grpcSagaEncoder(stub: string, payload: Buffer): (gid: string) => Buffer {
  const serialize = dtmServiceDefinition()['Submit']!.requestSerialize as (req: object) => Buffer;
  const { Gid: _gid, ...noGid } = grpcSagaRequest('', stub, payload) as { Gid: string };
  const rest = serialize(noGid);
  return (gid) => {
    const id = Buffer.from(gid);
    const head = [0x0a];
    let n = id.length;
    while (n >= 0x80) {
      head.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    head.push(n);
    return Buffer.concat([Buffer.from(head), id, rest]);
  };
}

const raw = (b: Buffer): Buffer => b;

/** Submits grpc-saga transactions to the coordinator's gRPC API at `address` over one channel. */
export function grpcSagaSubmitter(address: string, stub: string): TxRunner {
  // Channelz off: per-call counters nobody reads, on the cores the coordinator is measured on.
  const client = new Client(address, credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
  // A BusiReq{Amount: 30} as DTM's busi would marshal it: field 1, varint 30.
  const encode = grpcSagaEncoder(stub, Buffer.from([0x08, 30]));
  return {
    run(gid, shouldFail) {
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(SUBMIT, raw, raw, encode(gid), new Metadata(), { deadline: Date.now() + 60_000 }, (err: ServiceError | null) => {
          if (err === null) {
            if (shouldFail) reject(new TxError(`Submit ${gid}: OK (expected Aborted)`));
            else resolve('succeed');
          } else if (err.code === status.ABORTED && shouldFail) resolve('failed');
          else reject(new TxError(`Submit ${gid}: ${status[err.code]} ${err.details.slice(0, 200)}`));
        });
      });
    },
    close() {
      client.close();
      return Promise.resolve();
    },
  };
}
