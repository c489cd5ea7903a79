/**
 * One transaction of a workload, as the driver runs it: `run(gid, shouldFail)` resolves with the
 * outcome the coordinator's answer implies, or rejects with a TxError saying what was unexpected.
 * Over HTTP (the workload's request plan on an undici Pool) or over DTM's gRPC API.
 */
import { Pool } from 'undici';
import { planFor, WORKLOADS, type WorkloadName } from '../workloads.js';
import { grpcSagaSubmitter } from './grpc-saga.js';
import type { DriverConfig } from './ipc.js';

export type TxOutcome = 'succeed' | 'failed';

/** An answer the workload did not expect (the driver counts it as an error). */
export class TxError extends Error {
  override readonly name = 'TxError';
}

export interface TxRunner {
  run(gid: string, shouldFail: boolean): Promise<TxOutcome>;
  close(): Promise<void>;
}

/** The runner of `cfg.workload`, with `connections` sockets (HTTP) or one HTTP/2 channel (gRPC). */
export function txRunner(cfg: DriverConfig, connections: number): TxRunner {
  const workload = WORKLOADS[cfg.workload as WorkloadName];
  if (workload.transport === 'grpc') {
    if (cfg.grpcAddress === undefined) throw new Error(`${workload.name} needs the coordinator's gRPC address`);
    return grpcSagaSubmitter(cfg.grpcAddress, cfg.stubUrl);
  }
  const plan = planFor(workload.name, cfg.stubUrl);
  // The flash workloads buy from the business service (the stub's place), which calls the coordinator.
  const pool = new Pool(workload.sendTo === 'business' ? cfg.stubUrl : cfg.coordinatorUrl, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const headers = { 'content-type': 'application/json' };
  return {
    async run(gid, shouldFail) {
      const reqs = plan(gid);
      let finalStatus = 0;
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        const res = await pool.request(r.method === 'GET' ? { path: r.path, method: 'GET' } : { path: r.path, method: 'POST', body: r.body, headers });
        finalStatus = res.statusCode;
        const last = i === reqs.length - 1;
        const expected = last && shouldFail ? 409 : 200;
        // A sold-out answer (flash workloads) is an outcome, not an error.
        const outcomeConflict = last && workload.conflictIsOutcome === true && res.statusCode === 409;
        if (res.statusCode !== expected && !outcomeConflict) {
          const text = await res.body.text();
          throw new TxError(`${r.path} ${gid}: HTTP ${res.statusCode} (expected ${expected}) ${text.slice(0, 200)}`);
        }
        await res.body.dump();
      }
      return finalStatus === 200 ? 'succeed' : 'failed';
    },
    close: () => pool.close(),
  };
}
