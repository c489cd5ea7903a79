/**
 * grpc-saga, the driver's side: a 2-step saga submitted with DTM's gRPC API
 * (`dtmgimp.Dtm/Submit`, WaitResult), as DTM's Go SDK sends it (`dtmgrpc.NewSagaGrpc(...).Add(...)`):
 * Steps is the JSON text of the action/compensate URLs, BinPayloads one message per step. The
 * branch URLs are gRPC (`host:port/bench.Busi/TransOut`) on bench/grpc-stub.ts, so the
 * coordinator calls them over gRPC, as it does for every transaction created through gRPC.
 */
import { credentials, loadPackageDefinition, Metadata, status, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { dtmPackage } from '../../src/grpc/protos.js';
import { GRPC_STUB_SERVICE } from './grpc-stub-service.js';
import { TxError, type TxRunner } from './tx.js';
import { STUB_PREFIX } from '../workloads.js';

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

type SubmitFn = (req: object, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null) => void) => void;

/** Submits grpc-saga transactions to the coordinator's gRPC API at `address` over one channel. */
export function grpcSagaSubmitter(address: string, stub: string): TxRunner {
  const pkg = loadPackageDefinition(dtmPackage()) as { dtmgimp: GrpcObject };
  const Dtm = pkg.dtmgimp['Dtm'] as ServiceClientConstructor;
  // Channelz off: per-call counters nobody reads, on the cores the coordinator is measured on.
  const client = new Dtm(address, credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
  const submit = (client['Submit'] as SubmitFn).bind(client);
  // A BusiReq{Amount: 30} as DTM's busi would marshal it: field 1, varint 30.
  const payload = Buffer.from([0x08, 30]);
  return {
    run(gid, shouldFail) {
      return new Promise((resolve, reject) => {
        submit(grpcSagaRequest(gid, stub, payload), new Metadata(), { deadline: new Date(Date.now() + 60_000) }, (err) => {
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
