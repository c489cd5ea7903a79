/**
 * The gRPC front door (dtm-grpc.md §2, §3): service `dtmgimp.Dtm` on its own port, plaintext
 * HTTP/2, with server reflection (so grpcurl works without a .proto). Each RPC becomes one call of
 * a transport-neutral DtmService with the body an HTTP request would carry (convert.ts), and each
 * error becomes the status DTM's SDK expects. A malformed message or an unknown method is answered
 * by grpc-js itself (Internal, Unimplemented); nothing a client sends can throw out of here.
 */
import { createRequire } from 'node:module';
import { Server, ServerCredentials, type ServiceDefinition, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { DtmError, OverloadedError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  branchFields,
  grpcStatusOf,
  progressesReply,
  transBody,
  type DtmBranchRequestMessage,
  type DtmRequestMessage,
  type DtmTopicRequestMessage,
  type GrpcStatus,
} from './convert.js';
import { dtmPackage, dtmServiceDefinition } from './protos.js';
import { reflectionPackage } from './reflection.js';
import type { DtmService } from './service.js';

/** grpc's default, kept as DTM runs with it: a larger request is refused with ResourceExhausted. */
const DEFAULT_MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** The version of @grpc/grpc-js serving the API (DTM reports its grpc-go version in dtm_server_info). */
export function grpcLibraryVersion(): string {
  return (createRequire(import.meta.url)('@grpc/grpc-js/package.json') as { version: string }).version;
}

/**
 * Observes each call (DTM's `dtm_server_process_total{type="grpc"}` and response duration): the
 * method name lower-cased (`submit`, `registerbranch`…), whether it answered OK, and its duration.
 */
export type GrpcCallObserver = (api: string, ok: boolean, seconds: number) => void;

export interface GrpcServerOptions {
  service: DtmService;
  log: Logger;
  observe?: GrpcCallObserver;
  /** @default '0.0.0.0' (DTM listens on every interface) */
  host?: string;
  /** The port to bind; 0 picks a free one (see `GrpcServer.port`). */
  port: number;
  /** Largest request message accepted, in bytes. @default 4 MiB */
  maxReceiveBytes?: number;
  /** Calls in flight beyond which new ones are refused with Unavailable. @default unlimited */
  maxInflight?: number;
  /**
   * Checks a call's `authorization` metadata (`Bearer <token>`) for its method (lower-cased);
   * throws a DtmError (401 → Unauthenticated) to refuse it. @default every call allowed
   */
  authorize?: (api: string, authorization: string | undefined) => void;
}

export interface GrpcServer {
  /** The port actually bound. */
  readonly port: number;
  /** Calls in flight. */
  inflight(): number;
  /**
   * Stops accepting calls and lets the ones in flight finish for up to `graceMs`, then cancels
   * what is left. Resolves once the server is down; calling it again returns the same promise.
   */
  close(graceMs?: number): Promise<void>;
}

const EMPTY = {};

/** `host:port` as grpc-js wants it to bind, with an IPv6 host in brackets. */
function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Starts the server and resolves once it listens. */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const { service, log } = opts;
  const observe = opts.observe ?? (() => {});
  const maxInflight = opts.maxInflight ?? Infinity;
  let inflight = 0;

  function fail(api: string, err: unknown): GrpcStatus {
    const s = grpcStatusOf(err);
    if (!(err instanceof DtmError)) log.error({ api, err }, 'grpc call failed unexpectedly');
    else if (err.status >= 500 && err.code !== 'INTERNAL') log.error({ api, err: err.message, cause: err.cause }, 'grpc call failed');
    return s;
  }

  /** One unary method: run it, answer exactly once, observe it. */
  function unary<Req, Res>(api: string, run: (req: Req) => Res | Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const started = performance.now();
      inflight++;
      const done = (status: GrpcStatus | undefined, reply?: Res): void => {
        inflight--;
        observe(api, status === undefined, (performance.now() - started) / 1000);
        if (status === undefined) callback(null, reply);
        else callback(status);
      };
      if (inflight > maxInflight) {
        done(fail(api, new OverloadedError()));
        return;
      }
      let result: Res | Promise<Res>;
      try {
        const authorization = call.metadata.get('authorization')[0];
        opts.authorize?.(api, typeof authorization === 'string' ? authorization : undefined);
        result = run(call.request);
      } catch (err) {
        done(fail(api, err));
        return;
      }
      Promise.resolve(result).then(
        (reply) => done(undefined, reply),
        (err: unknown) => done(fail(api, err)),
      );
    };
  }

  const handlers: UntypedServiceImplementation = {
    NewGid: unary('newgid', () => ({ Gid: service.newGid() })),
    Prepare: unary('prepare', async (req: DtmRequestMessage) => {
      await service.prepare(transBody(req));
      return EMPTY;
    }),
    Submit: unary('submit', async (req: DtmRequestMessage) => {
      await service.submit(transBody(req));
      return EMPTY;
    }),
    Abort: unary('abort', async (req: DtmRequestMessage) => {
      await service.abort(transBody(req));
      return EMPTY;
    }),
    RegisterBranch: unary('registerbranch', async (req: DtmBranchRequestMessage) => {
      const { fields, payload } = branchFields(req);
      await service.registerBranch(fields, payload);
      return EMPTY;
    }),
    PrepareWorkflow: unary('prepareworkflow', async (req: DtmRequestMessage) => progressesReply(await service.prepareWorkflow(transBody(req)))),
    Subscribe: unary('subscribe', async (req: DtmTopicRequestMessage) => {
      await service.subscribe(req.Topic ?? '', req.URL ?? '', req.Remark ?? '');
      return EMPTY;
    }),
    Unsubscribe: unary('unsubscribe', async (req: DtmTopicRequestMessage) => {
      await service.unsubscribe(req.Topic ?? '', req.URL ?? '');
      return EMPTY;
    }),
    DeleteTopic: unary('deletetopic', async (req: DtmTopicRequestMessage) => {
      await service.deleteTopic(req.Topic ?? '');
      return EMPTY;
    }),
  };

  // A request that does not decode never reaches a handler (grpc-js answers Internal): count it
  // here so that the metrics show it as a failed call of its method.
  const definition: ServiceDefinition = Object.fromEntries(
    Object.entries(dtmServiceDefinition()).map(([name, method]) => {
      const api = name.toLowerCase();
      return [
        name,
        {
          ...method,
          requestDeserialize: (buf: Buffer): unknown => {
            try {
              return method.requestDeserialize(buf);
            } catch (err) {
              observe(api, false, 0);
              log.debug({ api, err: (err as Error).message, bytes: buf.length }, 'grpc request does not decode');
              throw err;
            }
          },
        },
      ];
    }),
  );

  // Channelz off: grpc-js's per-call and per-message counters and timestamps serve a channelz
  // service this server does not offer.
  const server = new Server({ 'grpc.max_receive_message_length': opts.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES, 'grpc.enable_channelz': 0 });
  server.addService(definition, handlers);
  new ReflectionService(reflectionPackage(dtmPackage())).addToServer(server);

  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress(host, opts.port), ServerCredentials.createInsecure(), (err, bound) => {
      if (err === null) resolve(bound);
      else if (/EADDRINUSE/.test(err.message)) {
        reject(new Error(`[DTM_PORT_IN_USE] cannot listen for gRPC on ${host}:${opts.port}: the port is in use (GRPC_PORT=0 turns gRPC off)`, { cause: err }));
      } else reject(new Error(`cannot listen for gRPC on ${host}:${opts.port}: ${err.message}`, { cause: err }));
    });
  });
  log.info({ port }, 'gRPC server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    inflight: () => inflight,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ inflight }, 'gRPC calls still in flight at the shutdown deadline: cancelled');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
