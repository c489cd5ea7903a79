/**
 * The business services a run needs, each its own process: the HTTP stub (stub.ts), the gRPC stub
 * (grpc-stub.ts, grpc-saga) or the flash-sale service (flash-service.ts, which needs the
 * coordinator's URL and the bench Redis for its stock and barriers).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WORKLOADS, type WorkloadName } from '../workloads.js';
import { stopChild, waitMessage } from './children.js';
import type { StubStats } from './ipc.js';

const HERE = new URL('../', import.meta.url);
const STUB = fileURLToPath(new URL('./stub.js', HERE));
const GRPC_STUB = fileURLToPath(new URL('./grpc-stub.js', HERE));
const FLASH = fileURLToPath(new URL('./flash-service.js', HERE));

export interface BusinessService {
  /** http://127.0.0.1:port, or 127.0.0.1:port for the gRPC stub. */
  url: string;
  pid: number;
  /** Calls received per op. */
  stats(): Promise<StubStats>;
  stop(): Promise<void>;
}

function wrap(child: ChildProcess, url: string, what: string): BusinessService {
  return {
    url,
    pid: child.pid!,
    stats() {
      const p = waitMessage<StubStats>(child, 'stats', 5000, what);
      child.send({ type: 'stats' });
      return p;
    },
    stop: () => stopChild(child, 3000),
  };
}

/** The stub (HTTP, or gRPC for grpc-saga unless its branches are HTTP) of a workload that is not a flash sale. */
export async function startStub(name: WorkloadName, grpcBranches: 'grpc' | 'http'): Promise<BusinessService> {
  const grpc = WORKLOADS[name].transport === 'grpc' && grpcBranches === 'grpc';
  const child = fork(grpc ? GRPC_STUB : STUB, ['0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const what = grpc ? 'the gRPC stub' : 'the stub';
  try {
    const port = (await waitMessage<{ port: number }>(child, 'ready', 10_000, what)).port;
    return wrap(child, grpc ? `127.0.0.1:${port}` : `http://127.0.0.1:${port}`, what);
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
}

/** The flash-sale business service, with its stock set, in the stub's place. */
export async function startFlash(args: { redisUrl: string; coordinatorUrl: string; stock: number; execArgv: string[] }): Promise<BusinessService> {
  const child = fork(FLASH, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // --cpu-prof profiles the flash service too (into the same directory).
    execArgv: args.execArgv,
    env: { ...process.env, PORT: '0', REDIS_URL: args.redisUrl, DTM: `${args.coordinatorUrl}/api/dtmsvr`, STOCK: String(args.stock) },
  });
  try {
    const port = (await waitMessage<{ port: number }>(child, 'ready', 10_000, 'the flash service')).port;
    return wrap(child, `http://127.0.0.1:${port}`, 'the flash service');
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
}
